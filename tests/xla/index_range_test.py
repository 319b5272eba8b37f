#!/usr/bin/env python3
"""Integer inputs looked up in tables get their index_range whichever way the table is held: a Keras 2
Embedding (its function reads the table through ResourceGather), tf.gather on a variable, on its
value and on a tensor captured from outside the function, each compiled with its weights baked in and fed as
parameters (where the table stays a variable while the compiler looks for it). `hepinfer infer`
refuses an index outside the range on each artifact. Exit status 0 when all holds.

usage: index_range_test.py HEPINFER_CLI
"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["TF_USE_LEGACY_KERAS"] = "1"
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import compile_xla  # noqa: E402

ROWS = 50


def check(condition, what):
    """Fails the test with `what` (not `assert`, which python -O drops)."""
    if not condition:
        sys.exit(f"index_range_test: FAILED: {what}")


def keras2_embedding(path):
    import tf_keras
    ids = tf_keras.Input((6,), dtype="int32", name="ids")
    pooled = tf_keras.layers.GlobalAveragePooling1D()(tf_keras.layers.Embedding(ROWS, 4)(ids))
    tf_keras.Model(ids, tf_keras.layers.Dense(2, name="y")(pooled)).save(str(path))


def gather_module(path, table):
    import numpy as np
    import tensorflow as tf
    values = np.linspace(-1, 1, ROWS * 3, dtype=np.float32).reshape(ROWS, 3)
    captured = tf.constant(values)

    class Model(tf.Module):
        def __init__(self):
            self.table = tf.Variable(values)

        @tf.function(input_signature=[tf.TensorSpec([None, 6], tf.int32, name="ids")])
        def serve(self, ids):
            held = {"variable": self.table, "read variable": self.table.read_value(), "captured tensor": captured}
            return {"y": tf.reduce_sum(tf.gather(held[table], ids), axis=1)}

    model = Model()
    tf.saved_model.save(model, str(path), signatures={"serving_default": model.serve})


def check_model(hepinfer, scratch, name, write):
    import numpy as np
    write(scratch / "saved_model")
    inside = np.arange(12, dtype=np.int32).reshape(2, 6) * 4 % ROWS
    outside = inside.copy()
    outside[1, 2] = ROWS
    np.save(scratch / "inside.npy", inside)
    np.save(scratch / "outside.npy", outside)
    for weights in ("baked", "parameters"):
        artifact = scratch / f"{weights}.xla"
        compile_xla.compile_model(scratch / "saved_model", artifact, [2], weights=weights)
        manifest = json.loads((artifact / "manifest.json").read_text())
        check(manifest["inputs"][0].get("index_range") == [0, ROWS],
              f"{name}, weights {weights}: index_range {manifest['inputs'][0].get('index_range')}, "
              f"expected [0, {ROWS}]")
        layout = manifest["weights"]["layout"] if isinstance(manifest["weights"], dict) else "baked"
        check(layout == weights, f"{name}: weights {layout}, asked {weights}")
        ran = subprocess.run([hepinfer, "infer", str(artifact), "-i", f"ids={scratch / 'inside.npy'}",
                              "--output-dir", str(scratch / weights)], capture_output=True, text=True)
        check(ran.returncode == 0, f"{name}, weights {weights}: {ran.stderr}")
        ran = subprocess.run([hepinfer, "infer", str(artifact), "-i", f"ids={scratch / 'outside.npy'}"],
                             capture_output=True, text=True)
        check(ran.returncode != 0 and f"holds {ROWS} in row 1, outside [0, {ROWS})" in ran.stderr,
              f"{name}, weights {weights}: an index outside the table was not refused: {ran.stderr}")


def main():
    models = {"Keras 2 Embedding": keras2_embedding}
    for table in ("variable", "read variable", "captured tensor"):  # ResourceGather, ReadVariableOp, Placeholder
        models[f"tf.gather on a {table}"] = lambda path, table=table: gather_module(path, table)
    for name, write in models.items():
        with tempfile.TemporaryDirectory() as scratch:
            check_model(sys.argv[1], Path(scratch), name, write)
        print(f"index_range_test: {name}: the range is found baked and as parameters, and enforced")


if __name__ == "__main__":
    main()
