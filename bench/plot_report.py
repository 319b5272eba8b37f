#!/usr/bin/env python3
"""Renders the benchmark report's plots (matplotlib) from the JSON bench/run_benchmarks.sh writes.

  inference_throughput.png  MLP inferences/s against batch size: hepinfer, plain Session::Run, Python TF
  threading_throughput.png  batch-1 inferences/s against calling threads, per threading mode
  batching_throughput.png   requests/s against concurrent requesters, with and without dynamic batching
  job_throughput.png        the demo job (hepinfer run): events/s against threads, batching on and off

usage: plot_report.py RESULTS_DIR PLOTS_DIR
"""
import json
import platform
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from report_batching import LABELS as BATCHING_LABELS, MODES as BATCHING_MODES  # noqa: E402


def machine(report):
    threads = report.get("hardware_threads")
    return f"{platform.processor() or platform.machine()}, {threads} hardware threads" if threads else platform.machine()


def save(figure, axes, path, xlabel, ylabel, title):
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title, fontsize=10)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    print(f"plot: {path}")


def inference(results, plots):
    cpp = json.load(open(results / "inference_cpp.json"))
    python = json.load(open(results / "inference_python.json"))
    figure, axes = plt.subplots(figsize=(6, 4))
    batches = [row["batch"] for row in cpp["results"]]
    for key, label in (("hepinfer", "hepinfer"), ("tf_cpp_session_run", "plain Session::Run (baseline)")):
        axes.plot(batches, [row[key]["inferences_per_second"] for row in cpp["results"]], marker="o", label=label)
    python_rows = python["results"]
    axes.plot([row["batch"] for row in python_rows], [row["tf_python_signature"]["inferences_per_second"] for row in python_rows],
              marker="s", linestyle="--", label="Python TF (baseline)")
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    save(figure, axes, plots / "inference_throughput.png", "batch size (rows)", "inferences per second",
         f"MLP 4x256, 1 calling thread, TF {cpp['tensorflow']}")


def threading(results, plots):
    report = json.load(open(results / "threading.json"))
    workload = "mlp_batch1"
    rows = [row for row in report["results"] if row["workload"] == workload]
    figure, axes = plt.subplots(figsize=(6, 4))
    threads = [row["calling_threads"] for row in rows]
    for mode in ("inline", "tbb", "tensorflow", "baseline"):
        label = "plain Session::Run (baseline)" if mode == "baseline" else f"hepinfer, {mode}"
        axes.plot(threads, [row[mode]["inferences_per_second"] for row in rows], marker="o", label=label)
    axes.set_xscale("log", base=2)
    save(figure, axes, plots / "threading_throughput.png", "calling threads", "inferences per second (batch 1)",
         f"{workload}, threading modes ({machine(report)})")


def batching(results, plots):
    report = json.load(open(results / "batching.json"))
    requesters = [row["requesters"] for row in report["requesters"]]
    figure, axes = plt.subplots(figsize=(6, 4))
    for mode in BATCHING_MODES:
        axes.plot(requesters, [row[mode]["requests_per_second"] for row in report["requesters"]], marker="o",
                  label=BATCHING_LABELS[mode])
    axes.set_xscale("log", base=2)
    save(figure, axes, plots / "batching_throughput.png", "concurrent requesters (batch 1 each)",
         "requests per second", f"MLP 4x256, dynamic batching ({machine(report)})")


def job(results, plots):
    runs = json.load(open(results / "job.json"))
    figure, axes = plt.subplots(figsize=(6, 4))
    for batching_mode in ("on", "off"):
        points = sorted((r["job"]["threads"], r["job"]["events_per_second"]) for r in runs if r["batching"] == batching_mode)
        axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=f"dynamic batching {batching_mode}")
    save(figure, axes, plots / "job_throughput.png", "threads (streams = threads)", "events per second",
         "hepinfer run: demo job (jet tagger, event classifier, particle flow)")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    results, plots = Path(sys.argv[1]), Path(sys.argv[2])
    plots.mkdir(parents=True, exist_ok=True)
    for plot in (inference, threading, batching, job):
        plot(results, plots)


if __name__ == "__main__":
    main()
