#!/usr/bin/env python3
"""One benchmark run of the remote backend: makes a dense model (64 features in, 16 rows per request
by default), serves it from two KServe servers (scripts/serve_oip.sh, loopback), runs Triton's Python
HTTP client against the first (peer_tritonclient.py), then bench_remote (C++) against it, whose last
phase kills the first server mid-run. Client CPU per request is shown next to its floor on this host,
the same binary request sent over a plain socket with nothing but the system calls, and next to
what of it hepinfer's own protocol code takes, hot and without the network (bench/protocol_work.h).
Client CPU is measured twice: with the server on the client's cores (as the rest of the run), and
with the client on one core and the server on the others (as a server on another node would be),
since a server sharing the client's core both takes its caches and adds loopback work.
What TLS adds
is measured through two instances of tests/remote/tls_proxy.py in front of the first server, one
speaking TLS (certificates from tests/remote/make_test_certificates.sh), one not. Prints the
Markdown table the README and docs/remote.md show, writes everything as JSON, and the single-server
figures docs/scale-out.md's simulation reads.

usage: report_remote.py BUILD_DIR OUTPUT_DIR [--seconds S] [--rows N]
Run with the project's .venv Python (it makes the model with TensorFlow); the servers and the peer
run in .venv-kserve.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from report import machine  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MODEL = "dense64"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_model(path):
    import tensorflow as tf
    tf.keras.utils.set_random_seed(3)
    model = tf.keras.Sequential([tf.keras.Input((64,), name="x"), tf.keras.layers.Dense(64, activation="relu"),
                                 tf.keras.layers.Dense(8)])
    model.export(str(path), verbose=False)


def serve(saved_model, port, log):
    pid = subprocess.run([str(REPO / "scripts/serve_oip.sh"), str(saved_model), "--name", MODEL, "--port", str(port),
                          "--log", str(log)], check=True, capture_output=True, text=True).stdout.strip()
    return int(pid)


def stop(pid):
    subprocess.run([str(REPO / "scripts/serve_oip.sh"), "--stop", str(pid)], capture_output=True)


def pin(pid, cpus):
    """Every thread of process `pid` onto `cpus`."""
    subprocess.run(["taskset", "-a", "-p", "-c", ",".join(map(str, sorted(cpus))), str(pid)], check=True,
                   capture_output=True)


def client_cpu_with_server_apart(build, url, pid, rows, seconds, out):
    """bench_remote's one-requester phases on the first CPU this process may use, the server's
    threads on the others; None on a machine with a single CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    client, server = cpus[:1], cpus[1:]
    pin(pid, server)
    try:
        subprocess.run(["taskset", "-c", str(client[0]), str(build / "bench/bench_remote"), url, MODEL, str(out),
                        "--seconds", str(seconds), "--rows", str(rows), "--phases", "client-cpu"], check=True)
    finally:
        pin(pid, cpus)
    result = json.loads(out.read_text())
    result["client_cpus"], result["server_cpus"] = client, server
    return result


def start_proxy(arguments, log):
    """tests/remote/tls_proxy.py with `arguments`; returns (process, port)."""
    with open(log, "w") as output:
        process = subprocess.Popen([sys.executable, str(REPO / "tests/remote/tls_proxy.py"), *arguments],
                                   stdout=output, stderr=subprocess.STDOUT)
    for _ in range(200):
        text = Path(log).read_text()
        if text.startswith("port "):
            return process, int(text.split()[1])
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"tls_proxy.py {' '.join(arguments)} did not start: {Path(log).read_text()}")


def print_client_cpu(phases, where, floor_label):
    """Table rows: one requester's client CPU in each encoding, binary against the plain-socket floor."""
    floor = phases["plain_socket_floor"]
    for encoding in ("binary", "json"):
        single = phases[f"single_{encoding}"]
        baseline = (f"{floor_label}: {floor['client_cpu_us_per_request']:.1f} µs "
                    f"({floor['client_user_cpu_us_per_request']:.1f} µs) | "
                    f"{single['client_cpu_us_per_request'] / floor['client_cpu_us_per_request']:.2f}x"
                    if encoding == "binary" else "- | -")
        print(f"| one requester, {encoding}{where}: client CPU per request (user part) | "
              f"{single['client_cpu_us_per_request']:.1f} µs ({single['client_user_cpu_us_per_request']:.1f} µs) | "
              f"{baseline} |")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("build")
    parser.add_argument("output")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rows", type=int, default=16)
    args = parser.parse_args()
    build, out = Path(args.build).resolve(), Path(args.output).resolve()
    out.mkdir(parents=True, exist_ok=True)
    saved_model = out / MODEL / "saved_model"
    if not saved_model.exists():
        make_model(saved_model)

    port_a, port_b = free_port(), free_port()
    pid_a = serve(saved_model, port_a, out / "server_a.log")
    pid_b = serve(saved_model, port_b, out / "server_b.log")
    certificates = out / "certificates"
    subprocess.run(["bash", str(REPO / "tests/remote/make_test_certificates.sh"), str(certificates)], check=True,
                   capture_output=True)
    proxies = []
    try:
        plain_proxy, plain_port = start_proxy(["--plain", str(port_a)], out / "plain_proxy.log")
        proxies.append(plain_proxy)
        tls_proxy, tls_port = start_proxy([str(certificates / "server.pem"), str(certificates / "server.key"),
                                           str(port_a)], out / "tls_proxy.log")
        proxies.append(tls_proxy)
        apart = client_cpu_with_server_apart(build, f"http://127.0.0.1:{port_a}", pid_a, args.rows, args.seconds,
                                             out / "bench_remote_server_apart.json")
        kserve_python = REPO / ".venv-kserve/bin/python"
        subprocess.run([str(kserve_python), str(REPO / "bench/peer_tritonclient.py"), f"127.0.0.1:{port_a}", MODEL,
                        str(out / "peer_tritonclient.json"), "--seconds", str(args.seconds), "--rows", str(args.rows),
                        "--concurrency", "16"], check=True)
        subprocess.run([str(build / "bench/bench_remote"), f"http://127.0.0.1:{port_a}", MODEL,
                        str(out / "bench_remote.json"), "--seconds", str(args.seconds), "--rows", str(args.rows),
                        "--second", f"http://127.0.0.1:{port_b}", "--kill-pid", str(pid_a),
                        "--plain-proxy", f"http://127.0.0.1:{plain_port}", "--tls-proxy", f"https://127.0.0.1:{tls_port}",
                        "--tls-ca", str(certificates / "ca.pem")], check=True)
    finally:
        for proxy in proxies:
            proxy.kill()
        stop(pid_a)
        stop(pid_b)

    cpp = json.loads((out / "bench_remote.json").read_text())
    peer = json.loads((out / "peer_tritonclient.json").read_text())
    batching = cpp["batching"]
    unbatched_1row_us = 1e6 / batching["unbatched"]["requests_per_second"]
    one_in_flight = batching["batched"]  # one batch at a time: its rate is the server's rate per batch
    execution_rate = one_in_flight["requests_per_second"] / max(1.0, one_in_flight["mean_batch_rows"])
    per_row = max(0.0, (1e6 / execution_rate - unbatched_1row_us) / max(1.0, one_in_flight["mean_batch_rows"] - 1))
    measured = {
        "machine": machine(),
        "server": "KServe 0.21.0 (tools/oip_server.py, TF 2.21 CPU), one process, sharing the client's cores",
        "model": f"{MODEL}: Dense 64->64->8, float32",
        "service_us_per_request": unbatched_1row_us,
        "service_us_per_row": per_row,
        "client_cpu_us_per_request": cpp["single_binary"]["client_cpu_us_per_request"],
        "client_cpu_us_per_request_server_apart": apart["single_binary"]["client_cpu_us_per_request"] if apart else None,
        "single_request_latency_us": cpp["single_binary"]["p50_us"],
    }
    report = {"benchmark": "remote", "machine": machine(), "bench_remote": cpp, "tritonclient": peer,
              "bench_remote_server_apart": apart,
              "scale_out_inputs": measured}
    (out / "report_remote.json").write_text(json.dumps(report, indent=2))
    (out / "scale_out_measured.json").write_text(json.dumps(measured, indent=2))

    rows = args.rows
    ratio = cpp["concurrent_binary"]["requests_per_second"] / peer["requests_per_second"]
    failover = cpp.get("failover", {})
    print(f"\nMachine: {machine()}; KServe 0.21.0 on the same 2 cores; {rows}x64 float32 per request.\n")
    print("| measurement | hepinfer remote backend | baseline (same run) | ratio |")
    print("|---|---:|---:|---:|")
    print_client_cpu(cpp, "", "plain socket, request encoded beforehand, reply not parsed")
    if apart:
        print_client_cpu(apart, ", server on a core of its own", "plain socket, as above")
    work = cpp["protocol_work"]
    print(f"| of it, hepinfer's protocol code, hot, without the network (encode / HTTP write / HTTP read / "
          f"decode) | {work['us_per_request']:.1f} µs ({work['encode_us']:.1f} / {work['http_write_us']:.1f} / "
          f"{work['http_read_us']:.1f} / {work['decode_us']:.1f}) | - | - |")
    plain_proxy, tls_proxy = cpp["single_binary_plain_proxy"], cpp["single_binary_tls_proxy"]
    print(f"| one requester, binary, HTTPS through a TLS proxy: client CPU per request (user part) | "
          f"{tls_proxy['client_cpu_us_per_request']:.1f} µs ({tls_proxy['client_user_cpu_us_per_request']:.1f} µs) | "
          f"HTTP through the same proxy without TLS: {plain_proxy['client_cpu_us_per_request']:.1f} µs "
          f"({plain_proxy['client_user_cpu_us_per_request']:.1f} µs) | "
          f"{tls_proxy['client_cpu_us_per_request'] / plain_proxy['client_cpu_us_per_request']:.2f}x |")
    for encoding in ("binary", "json"):
        single = cpp[f"single_{encoding}"]
        print(f"| one requester, {encoding}: p50 / p99 latency | {single['p50_us']:.0f} / {single['p99_us']:.0f} µs "
              f"| - | - |")
    print(f"| 16 requesters, binary: requests/s | {cpp['concurrent_binary']['requests_per_second']:.0f} | "
          f"tritonclient.http, 16 in flight: {peer['requests_per_second']:.0f} | {ratio:.2f}x |")
    print(f"| 16 requesters, JSON: requests/s | {cpp['concurrent_json']['requests_per_second']:.0f} | - | - |")
    for name, label in (("concurrent_binary", "16 requesters, binary"),
                        ("concurrent_binary_batched", "16 requesters, binary, through the dynamic batcher")):
        phase = cpp[name]
        print(f"| {label}: client CPU per request (user part) | {phase['client_cpu_us_per_request']:.1f} µs "
              f"({phase['client_user_cpu_us_per_request']:.1f} µs) | - | - |")
    for key, label in (("batched", "1 batch in flight"), ("batched_2_in_flight", "2 batches in flight")):
        phase = batching[key]
        print(f"| 16 requesters of 1 row, dynamic batching (delay {batching['delay_us']} µs, {label}): requests/s | "
              f"{phase['requests_per_second']:.0f} (mean batch {phase['mean_batch_rows']:.1f}) | "
              f"unbatched: {batching['unbatched']['requests_per_second']:.0f} | {phase['rate_ratio']:.2f}x |")
        print(f"| {label}: batched p50 / p99 vs delay + 3x single-request p50 | {phase['p50_us']:.0f} / "
              f"{phase['p99_us']:.0f} µs | bound {batching['p99_bound_us']:.0f} µs | "
              f"{phase['p99_us'] / batching['p99_bound_us']:.2f}x |")
    if failover:
        print(f"| server killed at {failover['killed_at_s']:.1f} s of {args.seconds:.0f} s: requests / lost / answered "
              f"twice / failed | {failover['requests']} / {failover['lost']} / {failover['answered_twice']} / "
              f"{failover['failed']} | - | - |")


if __name__ == "__main__":
    main()
