#!/usr/bin/env python3
"""A SavedModel whose function captures a variable and a tensor (a constant made outside it), in
that order and of different shapes, compiled with --weights parameters: weights.bin lists them in
the order the programs take them, as StableHLO and as HLO modules (the same model with
tf.math.erf, which has no StableHLO form), and `hepinfer infer` on each artifact gives Python TF's
outputs. Exit status 0 when all holds.

usage: weight_order_test.py HEPINFER_CLI
"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import compile_xla  # noqa: E402


def check(condition, what):
    """Fails the test with `what` (not `assert`, which python -O drops)."""
    if not condition:
        sys.exit(f"weight_order_test: FAILED: {what}")


def check_model(hepinfer, scratch, with_erf):
    import numpy as np
    import tensorflow as tf
    table = tf.constant(np.linspace(-1, 1, 4 * 5, dtype=np.float32).reshape(4, 5))

    class Model(tf.Module):
        def __init__(self):
            self.kernel = tf.Variable(np.linspace(0.5, -0.5, 4 * 3, dtype=np.float32).reshape(4, 3))

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def serve(self, x):
            product = x @ self.kernel
            return {"y": tf.concat([tf.math.erf(product) if with_erf else product, x @ table], axis=1)}

    model = Model()
    tf.saved_model.save(model, str(scratch / "saved_model"), signatures={"serving_default": model.serve})
    compile_xla.compile_model(scratch / "saved_model", scratch / "model.xla", [2, 3], weights="parameters")
    manifest = json.loads((scratch / "model.xla" / "manifest.json").read_text())
    shapes = [tensor["shape"] for tensor in manifest["weights"]["tensors"]]
    check(shapes == [[4, 3], [4, 5]], f"the variable, then the captured tensor: {shapes}")
    formats = {program["format"] for program in manifest["programs"]}
    check(formats == {"hlo" if with_erf else "mlir"}, f"programs {formats}")

    x = np.random.default_rng(7).normal(size=(5, 4)).astype(np.float32)  # 3 + 2 rows
    np.save(scratch / "x.npy", x)
    expected = model.serve(tf.constant(x))["y"].numpy()
    ran = subprocess.run([hepinfer, "infer", str(scratch / "model.xla"), "-i", f"x={scratch / 'x.npy'}",
                          "--output", f"y={scratch / 'y.npy'}"], capture_output=True, text=True)
    check(ran.returncode == 0, ran.stderr)
    got = np.load(scratch / "y.npy")
    check(np.allclose(got, expected, atol=2e-6), f"{formats}: largest difference {np.abs(got - expected).max()}")
    return formats


def main():
    for with_erf in (False, True):
        with tempfile.TemporaryDirectory() as scratch:
            formats = check_model(sys.argv[1], Path(scratch), with_erf)
        print(f"weight_order_test: {sorted(formats)} programs take the weights in the manifest's order, and agree")


if __name__ == "__main__":
    main()
