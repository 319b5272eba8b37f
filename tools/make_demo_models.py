#!/usr/bin/env python3
"""Generates the models of hepinfer's demo job (`hepinfer run`) and Python TensorFlow's outputs
for its first synthetic events.

Three models with the shapes of a reconstruction job:
  jet_tagger        SavedModel; inputs jets [n, 8] and constituents [n, 16, 4], one row per jet;
                    output: 4 flavour probabilities per jet
  event_classifier  frozen graph; input event [1, 16]; output: 3 class probabilities
  particle_flow     SavedModel; input particles [n, 8], hundreds to thousands of rows per event;
                    output: one energy correction per particle

The synthetic events are a pure function of (seed, event number); this file reproduces the C++
generator (src/framework/synthetic_events.cpp) bit for bit, so each model directory gets a
reference.json with Python TF's outputs for the first REFERENCE_EVENTS events, which the job
checks. The weights are seeded random: the numbers mean nothing physical, the shapes and the
work do. Nothing here is committed; the build runs this script.

Usage: make_demo_models.py OUTPUT_DIR
"""
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from tensorflow.python.framework.convert_to_constants import (  # noqa: E402
    convert_variables_to_constants_v2,
)

REFERENCE_SEED = 12345
REFERENCE_EVENTS = 24
FIRST_VALUES = 8

MASK = (1 << 64) - 1
# Collection ids of the generator; keep in step with synthetic_events.cpp.
JET_COUNT, PARTICLE_COUNT, JETS, CONSTITUENTS, EVENT, PARTICLES = range(6)
MAX_JETS, MIN_PARTICLES, MAX_PARTICLES = 12, 200, 3000
CONSTITUENTS_PER_JET = 16


def splitmix64(x):
    """Works on Python ints and on uint64 arrays (which wrap, as C++ does)."""
    if isinstance(x, int):
        x = (x + 0x9E3779B97F4A7C15) & MASK
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
        return x ^ (x >> 31)
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def stream_key(seed, event, collection):
    return splitmix64((splitmix64(seed) ^ splitmix64(event * 8 + collection)) & MASK)


def uniform(seed, event, collection, shape):
    """Values in [-1, 1) with 24 random bits each: exact in float32."""
    count = int(np.prod(shape))
    with np.errstate(over="ignore"):
        bits = splitmix64(np.uint64(stream_key(seed, event, collection)) + np.arange(count, dtype=np.uint64))
    return ((bits >> np.uint64(40)).astype(np.float32) / np.float32(2**23) - np.float32(1)).reshape(shape)


def synthetic_event(seed, event):
    jets = 1 + stream_key(seed, event, JET_COUNT) % MAX_JETS
    particles = MIN_PARTICLES + stream_key(seed, event, PARTICLE_COUNT) % (MAX_PARTICLES - MIN_PARTICLES + 1)
    return {
        "jets": uniform(seed, event, JETS, (jets, 8)),
        "constituents": uniform(seed, event, CONSTITUENTS, (jets, CONSTITUENTS_PER_JET, 4)),
        "event": uniform(seed, event, EVENT, (1, 16)),
        "particles": uniform(seed, event, PARTICLES, (particles, 8)),
    }


def jet_tagger():
    jets = keras.Input((8,), name="jets")
    constituents = keras.Input((CONSTITUENTS_PER_JET, 4), name="constituents")
    per_constituent = keras.layers.Dense(32, activation="relu")(constituents)
    pooled = keras.layers.GlobalAveragePooling1D()(per_constituent)
    h = keras.layers.Concatenate()([jets, pooled])
    h = keras.layers.Dense(64, activation="relu")(h)
    h = keras.layers.Dense(64, activation="relu")(h)
    return keras.Model([jets, constituents], keras.layers.Dense(4, activation="softmax")(h), name="jet_tagger")


def event_classifier():
    event = keras.Input((16,), name="event")
    h = keras.layers.Dense(128, activation="relu")(event)
    h = keras.layers.Dense(128, activation="relu")(h)
    return keras.Model(event, keras.layers.Dense(3, activation="softmax")(h), name="event_classifier")


def particle_flow():
    particles = keras.Input((8,), name="particles")
    h = keras.layers.Dense(64, activation="relu")(particles)
    h = keras.layers.Dense(64, activation="relu")(h)
    return keras.Model(particles, keras.layers.Dense(1)(h), name="particle_flow")


def save_frozen(model, input_names, path):
    signature = [tf.TensorSpec([None] + list(t.shape[1:]), t.dtype, name=name) for t, name in zip(model.inputs, input_names)]

    @tf.function(input_signature=signature)
    def serve(*args):
        return model(list(args) if len(args) > 1 else args[0], training=False)

    frozen = convert_variables_to_constants_v2(serve.get_concrete_function())
    tf.io.write_graph(frozen.graph.as_graph_def(), str(path.parent), path.name, as_text=False)


def write_reference(model, input_names, directory):
    events = {}
    for event in range(REFERENCE_EVENTS):
        data = synthetic_event(REFERENCE_SEED, event)
        args = [data[name] for name in input_names]
        out = np.asarray(model(args if len(args) > 1 else args[0], training=False), dtype=np.float64)
        events[str(event)] = {
            "rows": int(out.shape[0]),
            "sum": float(out.sum()),
            "abs_sum": float(np.abs(out).sum()),
            "weighted_sum": float((out.reshape(-1) * (np.arange(out.size) % 7 + 1)).sum()),
            "first": [float(v) for v in out.reshape(-1)[:FIRST_VALUES]],
        }
    reference = {"tensorflow": tf.__version__, "seed": REFERENCE_SEED, "events": events}
    (directory / "reference.json").write_text(json.dumps(reference, indent=1))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = Path(sys.argv[1])
    keras.utils.set_random_seed(7)
    for name, build, inputs, fmt in (
        ("jet_tagger", jet_tagger, ["jets", "constituents"], "saved_model"),
        ("event_classifier", event_classifier, ["event"], "frozen_graph"),
        ("particle_flow", particle_flow, ["particles"], "saved_model"),
    ):
        model = build()
        directory = out / name
        directory.mkdir(parents=True, exist_ok=True)
        if fmt == "saved_model":
            model.export(str(directory / "saved_model"), format="tf_saved_model", verbose=False)
        else:
            save_frozen(model, inputs, directory / "frozen.pb")
        write_reference(model, inputs, directory)
    (out / "README.txt").write_text("Demo models for `hepinfer run`, generated by tools/make_demo_models.py.\n")


if __name__ == "__main__":
    main()
