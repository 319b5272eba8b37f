#!/usr/bin/env python3
"""Merges the C++ and Python benchmark JSON of one run and prints the README's Markdown table.

usage: report.py CPP.json PYTHON.json MERGED.json
"""
import json
import platform
import subprocess
import sys


def machine():
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name"))
    except Exception:  # noqa: BLE001 - the description is informative only
        model = platform.processor() or "unknown CPU"
    import os
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def main():
    cpp = json.load(open(sys.argv[1]))
    python = json.load(open(sys.argv[2]))
    by_batch = {r["batch"]: r for r in cpp["results"]}
    for r in python["results"]:
        by_batch[r["batch"]]["tf_python_signature"] = r["tf_python_signature"]
    merged = {"benchmark": "inference_latency", "machine": machine(), "tensorflow": cpp["tensorflow"],
              "calling_threads": 1, "results": [by_batch[b] for b in sorted(by_batch)]}
    json.dump(merged, open(sys.argv[3], "w"), indent=2)

    print(f"Machine: {merged['machine']}; TensorFlow {merged['tensorflow']}; one calling thread; MLP 32→4×256→8.\n")
    print("| batch | hepinfer median / p99 (µs) | TF C++ Session::Run median / p99 (µs) | TF Python median / p99 (µs) "
          "| hepinfer inferences/s | Session::Run ÷ hepinfer (median) | Python ÷ hepinfer (median) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in merged["results"]:
        h, b, p = r["hepinfer"], r["tf_cpp_session_run"], r["tf_python_signature"]
        print(f"| {r['batch']} | {h['median_us']:.1f} / {h['p99_us']:.1f} | {b['median_us']:.1f} / {b['p99_us']:.1f} "
              f"| {p['median_us']:.1f} / {p['p99_us']:.1f} | {h['inferences_per_second']:.0f} "
              f"| {b['median_us'] / h['median_us']:.2f}× | {p['median_us'] / h['median_us']:.2f}× |")


if __name__ == "__main__":
    main()
