#!/usr/bin/env python3
"""One CPU benchmark run of the AOT backend against its baselines, side by side on one machine:
per model, hepinfer's TF backend (inline) and the AOT backend (bench_aot, C++, one thread,
interleaved), then ONNX Runtime (one intra-op thread) and TF Python right after
(peer_onnxruntime.py); then the demo job with its modules on AOT packages against the same job on
the TF backend. Compiles the packages itself; prints the Markdown tables docs/backends.md and the
README show; writes all of it as JSON.

Models: the MLP test model and a DeepJet-like tagger (bench/make_deepjet_like.py: four inputs,
Conv1D stacks, three LSTMs).

usage: report_aot.py BUILD_DIR OUTPUT_DIR [--seconds S] [--batches 1,64] [--events N]
(BUILD_DIR: a build with TensorFlow and AOT, whose models/ and demo_models/*/model.aot exist)
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here))
sys.path.insert(0, str(here.parent / "tools"))
from report import machine  # noqa: E402

MODELS = {"mlp": "MLP 32→4×256→8", "deepjet_like": "DeepJet-like (4 inputs, Conv1D, 3 LSTMs)"}


def run_job(hepinfer, arguments, events, threads):
    result = subprocess.run([str(hepinfer), "run", *arguments, "--events", str(events), "--threads", str(threads),
                             "--json", "--quiet"], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("build")
    parser.add_argument("output")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--batches", default="1,64")
    parser.add_argument("--events", type=int, default=5000)
    args = parser.parse_args()
    build, output = Path(args.build).resolve(), Path(args.output).resolve()
    output.mkdir(parents=True, exist_ok=True)
    import compile_aot

    sources = {"mlp": build / "models" / "mlp" / "saved_model", "deepjet_like": output / "deepjet_like" / "saved_model"}
    if not sources["deepjet_like"].is_dir():
        subprocess.run([sys.executable, str(here / "make_deepjet_like.py"), str(output / "deepjet_like")], check=True)
    batches = [int(b) for b in args.batches.split(",")]
    merged = {"benchmark": "aot_cpu_vs_peers", "machine": machine(), "models": {}, "compile": {}}
    for name, saved_model in sources.items():
        package = output / f"{name}.aot"
        started = time.monotonic()
        manifest = compile_aot.compile_model(saved_model, package, batches)
        merged["compile"][name] = {"seconds": round(time.monotonic() - started, 1), "batch_sizes": batches,
                                   "library_bytes": manifest["library"]["bytes"], "target": manifest["target"]["cpu"]}
        cpp_json, peer_json = output / f"{name}_bench_aot.json", output / f"{name}_peers.json"
        subprocess.run([str(build / "bench" / "bench_aot"), str(saved_model), str(package), str(cpp_json),
                        "--seconds", str(args.seconds), "--batches", args.batches], check=True)
        subprocess.run([sys.executable, str(here / "peer_onnxruntime.py"), str(saved_model), str(peer_json),
                        "--seconds", str(args.seconds / 2), "--batches", args.batches], check=True)
        cpp, peers = json.loads(cpp_json.read_text()), json.loads(peer_json.read_text())
        by_batch = {r["batch"]: dict(r) for r in cpp["results"]}
        for r in peers["results"]:
            by_batch[r["batch"]].update({"onnxruntime": r["onnxruntime"], "tensorflow_python": r["tensorflow_python"]})
        merged["models"][name] = {"threads": cpp["threads"], "onnxruntime": peers["onnxruntime"],
                                  "results": [by_batch[b] for b in sorted(by_batch)]}

    # The demo job, same events and threads: TF backend (batching on, the default, and off) vs AOT.
    hepinfer = build / "src" / "cli" / "hepinfer"
    threads = 2
    jobs = {
        "tensorflow_batching_on": run_job(hepinfer, ["--models", str(build / "demo_models")], args.events, threads),
        "tensorflow_batching_off": run_job(hepinfer, ["--models", str(build / "demo_models"), "--batching", "off"],
                                           args.events, threads),
        "aot": run_job(hepinfer, [str(here.parent / "examples" / "workflows" / "aot_job.yaml"), "--models",
                                  str(build / "demo_models")], args.events, threads),
    }
    merged["demo_job"] = {key: {"events_per_second": job["job"]["events_per_second"],
                                "cpu_efficiency": job["job"]["cpu_efficiency"],
                                "peak_rss_mib": job["job"]["peak_rss_mib"], "peak_threads": job["job"]["peak_threads"],
                                "failed_checks": sum(m["failed_checks"] for m in job["modules"])}
                          for key, job in jobs.items()}
    (output / "report_aot.json").write_text(json.dumps(merged, indent=2))

    print(f"\nMachine: {merged['machine']}; one calling thread; ONNX Runtime "
          f"{next(iter(merged['models'].values()))['onnxruntime']} with one intra-op thread (Python, ~3-4 µs of "
          "each call is Python).\n")
    print("| model | batch | AOT backend (µs) | TF backend (µs) | ONNX Runtime (µs) | TF Python (µs) "
          "| TF backend ÷ AOT | ORT ÷ AOT | TF Python ÷ AOT |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, model in merged["models"].items():
        for r in model["results"]:
            aot = r["aot_backend"]["median_us"]
            tf_backend = r["tensorflow_backend_inline"]["median_us"]
            ort = r["onnxruntime"]["median_us"]
            python = r["tensorflow_python"]["median_us"]
            print(f"| {MODELS[name]} | {r['batch']} | {aot:.1f} | {tf_backend:.1f} | {ort:.1f} | {python:.1f} "
                  f"| {tf_backend / aot:.2f} | {ort / aot:.2f} | {python / aot:.1f} |")
    print("\n| package | batch sizes | compile (s) | library (MB) | threads before → after load → after runs |")
    print("|---|---|---:|---:|---|")
    for name, compiled in merged["compile"].items():
        t = merged["models"][name]["threads"]
        print(f"| {MODELS[name]} | {','.join(map(str, compiled['batch_sizes']))} | {compiled['seconds']:.1f} "
              f"| {compiled['library_bytes'] / 1e6:.1f} | {t['before_aot_load']} → {t['after_aot_load']} → "
              f"{t['after_runs']} |")
    print(f"\n| demo job ({args.events} events, {threads} threads) | events/s | CPU efficiency | peak RSS MiB | threads |")
    print("|---|---:|---:|---:|---:|")
    for key, job in merged["demo_job"].items():
        print(f"| {key.replace('_', ' ')} | {job['events_per_second']:.0f} | {100 * job['cpu_efficiency']:.0f}% "
              f"| {job['peak_rss_mib']:.0f} | {job['peak_threads']} |")


if __name__ == "__main__":
    main()
