#!/usr/bin/env python3
"""TF Python baseline: the same SavedModel's serving signature called from Python, timed per call.

usage: bench_python.py MODELS_DIR OUTPUT.json [--seconds S] [--batches 1,64,1024]
"""
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def time_calls(call, min_seconds, min_calls, warmup):
    for _ in range(warmup):
        call()
    samples = []
    start = time.perf_counter()
    while len(samples) < min_calls or time.perf_counter() - start < min_seconds:
        before = time.perf_counter()
        call()
        samples.append((time.perf_counter() - before) * 1e6)
    return samples


def summarise(samples, batch):
    samples = np.sort(np.asarray(samples))
    mean = float(samples.mean())
    return {
        "median_us": float(samples[len(samples) // 2]),
        "p99_us": float(samples[min(len(samples) - 1, int(0.99 * len(samples)))]),
        "mean_us": mean,
        "calls": int(len(samples)),
        "inferences_per_second": 1e6 / mean * batch,
    }


def main():
    models, output = sys.argv[1], sys.argv[2]
    options = dict(zip(sys.argv[3::2], sys.argv[4::2]))
    seconds = float(options.get("--seconds", 2.0))
    batches = [int(b) for b in options.get("--batches", "1,64,1024").split(",")]
    serving = tf.saved_model.load(os.path.join(models, "mlp", "saved_model")).signatures["serving_default"]
    results = []
    for batch in batches:
        x = (np.arange(batch * 32) % 17 * 0.1).astype(np.float32).reshape(batch, 32)
        # Outputs are brought back to numpy, as the C++ side hands back host tensors.
        samples = time_calls(lambda: serving(x=tf.constant(x))["output_0"].numpy(), seconds,
                             50 if batch >= 1024 else 200, 20)
        results.append({"model": "mlp", "batch": batch, "tf_python_signature": summarise(samples, batch)})
        print(f"batch {batch}: TF Python median {results[-1]['tf_python_signature']['median_us']:.1f} us")
    with open(output, "w") as f:
        json.dump({"benchmark": "inference_latency_python", "tensorflow": tf.__version__, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
