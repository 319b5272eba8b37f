#!/usr/bin/env python3
"""One CPU benchmark run of the XLA backend against its baselines, per model: hepinfer's TF backend
(inline) and the XLA backend on the PJRT CPU plugin (bench_xla, C++, interleaved), then ONNX
Runtime and TF Python on the same machine right after (peer_onnxruntime.py). Compiles the
artifacts itself; prints the Markdown table docs/xla.md and the README show; writes all of it as
JSON.

usage: report_xla.py BUILD_DIR OUTPUT_DIR [--seconds S] [--batches 1,64,1024]
(BUILD_DIR: a build with TensorFlow and XLA, whose models/ holds the test models)
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tools"))
from report import machine  # noqa: E402

MODELS = {"mlp": "MLP 32→4×256→8", "lstm": "LSTM(16) on 10×6 + dense"}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("build")
    parser.add_argument("output")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--batches", default="1,64,1024")
    args = parser.parse_args()
    build, output = Path(args.build), Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    import compile_xla

    merged = {"benchmark": "xla_cpu_vs_peers", "machine": machine(), "models": {}}
    for name in MODELS:
        saved_model = build / "models" / name / "saved_model"
        artifact = output / f"{name}.xla"
        compile_xla.compile_model(saved_model, artifact, [int(b) for b in args.batches.split(",")])
        cpp_json, peer_json = output / f"{name}_bench_xla.json", output / f"{name}_peers.json"
        subprocess.run([str(build / "bench" / "bench_xla"), str(saved_model), str(artifact), str(cpp_json),
                        "--seconds", str(args.seconds), "--batches", args.batches], check=True)
        subprocess.run([sys.executable, str(Path(__file__).parent / "peer_onnxruntime.py"), str(saved_model),
                        str(peer_json), "--seconds", str(args.seconds / 2), "--batches", args.batches], check=True)
        cpp, peers = json.loads(cpp_json.read_text()), json.loads(peer_json.read_text())
        by_batch = {r["batch"]: dict(r) for r in cpp["results"]}
        for r in peers["results"]:
            by_batch[r["batch"]].update({"onnxruntime": r["onnxruntime"], "tensorflow_python": r["tensorflow_python"]})
        merged["models"][name] = {"threads": cpp["threads"], "onnxruntime": peers["onnxruntime"],
                                  "results": [by_batch[b] for b in sorted(by_batch)]}
    (output / "report_xla.json").write_text(json.dumps(merged, indent=2))

    print(f"\nMachine: {merged['machine']}; one calling thread; ONNX Runtime "
          f"{next(iter(merged['models'].values()))['onnxruntime']} with one intra-op thread (Python, ~3-4 µs of "
          "each call is Python).\n")
    print("| model | batch | TF backend (µs) | XLA backend, CPU plugin (µs) | ONNX Runtime (µs) | TF Python (µs) "
          "| TF backend ÷ XLA | ORT ÷ XLA | TF Python ÷ XLA |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, model in merged["models"].items():
        for r in model["results"]:
            tf_backend = r["tensorflow_backend_inline"]["median_us"]
            xla = r["xla_backend_cpu_plugin"]["median_us"]
            ort = r["onnxruntime"]["median_us"]
            python = r["tensorflow_python"]["median_us"]
            print(f"| {MODELS[name]} | {r['batch']} | {tf_backend:.1f} | {xla:.1f} | {ort:.1f} | {python:.1f} "
                  f"| {tf_backend / xla:.2f} | {ort / xla:.2f} | {python / xla:.2f} |")


if __name__ == "__main__":
    main()
