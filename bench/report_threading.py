#!/usr/bin/env python3
"""Prints the README's threading tables from bench_threading's JSON.

usage: report_threading.py THREADING.json
"""
import json
import sys

KINDS = ("baseline", "inline", "tbb", "tensorflow")


def main():
    report = json.load(open(sys.argv[1]))
    threads = report["process_threads"]
    print(f"TensorFlow {report['tensorflow']}, {report['hardware_threads']} hardware threads, "
          f"{report['seconds_per_measurement']} s per measurement (3 interleaved rounds). Process threads: "
          f"{threads['at_start']} at start, {threads['after_baseline_sessions']} after the baseline sessions, "
          f"{threads['after_hepinfer_models']} after loading hepinfer's models, {threads['at_end']} at the end "
          f"(with the tensorflow-mode pools and TBB's worker).\n")
    print("| workload | callers | " + " | ".join(f"{k} inf/s" for k in KINDS) + " | "
          + " | ".join(f"{k} p50 / p99 µs" for k in KINDS) + " | threads during (baseline / inline / tbb / tensorflow) |")
    print("|---|---:|" + "---:|" * (2 * len(KINDS)) + "---|")
    for r in report["results"]:
        rates = " | ".join(f"{r[k]['inferences_per_second']:.0f}" for k in KINDS)
        lat = " | ".join(f"{r[k]['p50_us']:.0f} / {r[k]['p99_us']:.0f}" for k in KINDS)
        during = " / ".join(str(r[k]["process_threads"]) for k in KINDS)
        print(f"| {r['workload']} | {r['calling_threads']} | {rates} | {lat} | {during} |")
    print("\n| floor | measured | required | met |\n|---|---:|---:|---|")
    for name, floor in report["floors"].items():
        print(f"| {name} | {floor['ratio']:.2f}× | {floor['floor']}× | {'yes' if floor['met'] else 'no'} |")


if __name__ == "__main__":
    main()
