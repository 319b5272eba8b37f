#!/usr/bin/env python3
"""Prints the README's dynamic-batching tables from bench_batching's JSON (plots: plot_report.py).

usage: report_batching.py BATCHING.json
"""
import json
import sys

MODES = ("unbatched", "batched_delay_0us", "batched_delay_100us", "batched_delay_1000us")
LABELS = {"unbatched": "unbatched", "batched_delay_0us": "batched, 0 µs", "batched_delay_100us": "batched, 100 µs",
          "batched_delay_1000us": "batched, 1000 µs"}


def main():
    report = json.load(open(sys.argv[1]))
    print(f"TensorFlow {report['tensorflow']}, {report['hardware_threads']} hardware threads, "
          f"{report['seconds_per_measurement']} s per measurement; {report['model']}; single-request latency "
          f"{report['single_request_latency_us']:.0f} µs.\n")
    print("| requesters | " + " | ".join(f"{LABELS[m]} req/s" for m in MODES) + " | "
          + " | ".join(f"{LABELS[m]} p50 / p99 µs" for m in MODES) + " | mean batch (0 / 100 / 1000 µs) |")
    print("|---:|" + "---:|" * (2 * len(MODES)) + "---|")
    for row in report["requesters"]:
        rates = " | ".join(f"{row[m]['requests_per_second']:.0f}" for m in MODES)
        latency = " | ".join(f"{row[m]['p50_us']:.0f} / {row[m]['p99_us']:.0f}" for m in MODES)
        batch = " / ".join(f"{row[m]['mean_batch_rows']:.1f}" for m in MODES[1:])
        print(f"| {row['requesters']} | {rates} | {latency} | {batch} |")
    print("\n| floor at 16 requesters | throughput ÷ unbatched | p99 µs | p99 bound µs | met |\n|---|---:|---:|---:|---|")
    for name, floor in report["floors_at_16_requesters"].items():
        print(f"| {name} | {floor['throughput_ratio']:.2f}× (≥ 3) | {floor['p99_us']:.0f} | {floor['p99_bound_us']:.0f} | "
              f"{'yes' if floor['met'] else 'no'} |")
    split = report["split_100k_rows"]
    print(f"\n100 000 rows, budget for {split['batch_limit']} rows: {split['backend_runs_per_request']} backend runs, "
          f"{split['split_median_ms']:.0f} ms vs {split['manual_median_ms']:.0f} ms for 100 manual runs "
          f"(ratio {split['time_ratio']:.2f}, floor ≤ 1.10), outputs bit-identical: {split['outputs_bit_identical']}.")


if __name__ == "__main__":
    main()
