#!/usr/bin/env python3
"""A DeepJet-like jet tagger for the CPU benchmarks, as a Keras SavedModel: four inputs (global
jet features, charged and neutral particle candidates, secondary vertices), 1x1 Conv1D stacks per
particle collection, one LSTM per collection, dense layers, six flavour probabilities. Modelled on
CMS's DeepJet (arXiv:2008.10519) at a reduced width; random weights, fixed seed.

usage: make_deepjet_like.py OUTPUT_DIR   (writes OUTPUT_DIR/saved_model)
"""
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def deepjet_like(keras):
    global_features = keras.Input((15,), name="jet")
    charged = keras.Input((25, 16), name="charged")
    neutral = keras.Input((25, 6), name="neutral")
    vertices = keras.Input((4, 12), name="vertices")

    def conv_stack(x, widths):
        for width in widths:
            x = keras.layers.Conv1D(width, 1, activation="relu")(x)
        return x

    cpf = keras.layers.LSTM(64)(conv_stack(charged, (64, 32, 32, 8)))
    npf = keras.layers.LSTM(32)(conv_stack(neutral, (32, 16, 4)))
    sv = keras.layers.LSTM(32)(conv_stack(vertices, (64, 32, 32, 8)))
    h = keras.layers.Concatenate()([global_features, cpf, npf, sv])
    for width in (128, 64, 64, 64):
        h = keras.layers.Dense(width, activation="relu")(h)
    out = keras.layers.Dense(6, activation="softmax", name="flavour")(h)
    return keras.Model([global_features, charged, neutral, vertices], out, name="deepjet_like")


def main():
    import tensorflow as tf
    keras = tf.keras
    tf.random.set_seed(2008)
    output = Path(sys.argv[1])
    model = deepjet_like(keras)
    model.export(str(output / "saved_model"), format="tf_saved_model", verbose=False)
    print(f"make_deepjet_like: {model.count_params()} parameters -> {output / 'saved_model'}")


if __name__ == "__main__":
    main()
