#!/usr/bin/env python3
"""The CPU peers of hepinfer's benchmarks on one SavedModel: ONNX Runtime (what HEP uses for CPU
inference today) and TensorFlow's own Python runtime, on the same inputs.

The SavedModel is converted with tf2onnx (from the SavedModel: converting a frozen graph leaves
TensorList ops ONNX Runtime cannot load), checked against TF on the benchmark's inputs, and timed
with one intra-op and one inter-op thread, as hepinfer's inline mode runs. Per batch size: median
and p99 per call in microseconds, from time.perf_counter around each call (the Python call itself
costs ~3-4 us at batch 1; stated, not subtracted). ONNX Runtime aborts the whole process on an
LSTM given zero rows, so batch 0 is not measured.

usage: peer_onnxruntime.py SAVED_MODEL OUTPUT.json [--seconds S] [--batches 1,64,1024] [--onnx FILE]
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def timed(call, seconds, minimum=50, warmup=20):
    for _ in range(warmup):
        call()
    samples = []
    end = time.perf_counter() + seconds
    while True:
        start = time.perf_counter()
        call()
        stop = time.perf_counter()
        samples.append((stop - start) * 1e6)
        if stop >= end and len(samples) >= minimum:
            return samples


def summary(samples, batch):
    import numpy as np
    samples = np.asarray(samples)
    median = float(np.median(samples))
    return {"median_us": median, "p99_us": float(np.percentile(samples, 99)), "calls": int(samples.size),
            "inferences_per_second": batch * 1e6 / float(samples.mean())}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("saved_model")
    parser.add_argument("output")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--batches", default="1,64,1024")
    parser.add_argument("--onnx", help="where the converted model goes (default: next to OUTPUT)")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",") if int(b) > 0]
    onnx_path = Path(args.onnx or Path(args.output).with_suffix(".onnx"))

    converted = subprocess.run(
        [sys.executable, "-m", "tf2onnx.convert", "--saved-model", args.saved_model, "--tag", "serve",
         "--signature_def", "serving_default", "--opset", "17", "--output", str(onnx_path)],
        capture_output=True, text=True)
    if converted.returncode != 0:
        sys.exit(f"peer_onnxruntime: tf2onnx could not convert '{args.saved_model}': "
                 f"{converted.stderr.strip().splitlines()[-1] if converted.stderr.strip() else 'no message'}")

    import numpy as np
    import onnxruntime as ort
    import tensorflow as tf

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    serve = tf.saved_model.load(args.saved_model).signatures["serving_default"]
    input_specs = serve.structured_input_signature[1]
    output_names = [o.name for o in session.get_outputs()]
    rng = np.random.default_rng(12345)
    results = []
    for batch in batches:
        feed = {}
        for name, spec in input_specs.items():
            shape = [batch] + spec.shape.as_list()[1:]
            if spec.dtype.is_floating:
                feed[name] = rng.standard_normal(shape).astype(spec.dtype.as_numpy_dtype)
            else:
                feed[name] = rng.integers(0, 2, size=shape).astype(spec.dtype.as_numpy_dtype)
        tf_feed = {name: tf.constant(value) for name, value in feed.items()}
        want = serve(**tf_feed)
        got = session.run(output_names, feed)
        difference = max(float(np.max(np.abs(g - want[name].numpy()))) if g.size else 0.0
                         for name, g in zip(output_names, got))
        ort_summary = summary(timed(lambda: session.run(output_names, feed), args.seconds), batch)
        tf_summary = summary(timed(lambda: serve(**tf_feed), args.seconds), batch)
        results.append({"batch": batch, "onnxruntime": ort_summary, "tensorflow_python": tf_summary,
                        "max_abs_difference_ort_vs_tf": difference})
        print(f"peer {Path(args.saved_model).parent.name} batch {batch}: ORT {ort_summary['median_us']:.1f} us, "
              f"TF Python {tf_summary['median_us']:.1f} us, |ORT - TF| <= {difference:.1e}")

    report = {
        "saved_model": args.saved_model,
        "onnx": str(onnx_path),
        "onnxruntime": ort.__version__,
        "tensorflow": tf.__version__,
        "threads": {"intra_op": 1, "inter_op": 1},
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
        "results": results,
    }
    Path(args.output).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
