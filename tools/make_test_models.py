#!/usr/bin/env python3
"""Generates hepinfer's test and demo models with the pinned TensorFlow, plus reference data.

For each model family it writes a SavedModel directory and/or a frozen GraphDef, seeded random
inputs at several batch sizes, and the outputs Python TensorFlow computes for them, all as .npy.
manifest.json ties them together: which names to feed and fetch in each format, which files hold
each case, and the tolerance. Nothing here is committed; the build runs this script.

Usage: make_test_models.py OUTPUT_DIR
"""
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
import tf_keras  # noqa: E402  (Keras 2, the tf.keras of TF < 2.16)
from tensorflow.python.framework.convert_to_constants import (  # noqa: E402
    convert_variables_to_constants_v2,
)
from tensorflow.python.util import _pywrap_util_port  # noqa: E402

tf.get_logger().setLevel("ERROR")  # the TF1 model uses deprecated v1 APIs on purpose

# Empty, one row, a large odd batch, and 5 rows; the 5-row case comes last because tests take the
# last case as their small multi-row sample.
BATCH_SIZES = (0, 1, 67, 5)


def random_input(rng, spec, batch):
    shape = (batch,) + tuple(spec["shape"][1:])
    kind = spec["dtype"]
    if kind == "float32":
        values = rng.standard_normal(shape).astype(np.float32)
        if "padded_steps" in spec:  # every other row's last steps are padding, as Masking expects
            values[::2, -spec["padded_steps"]:] = 0.0
        return values
    if kind == "float64":
        return rng.standard_normal(shape).astype(np.float64)
    if kind == "float16":
        return rng.standard_normal(shape).astype(np.float16)
    if kind in ("int32", "int64"):
        return rng.integers(0, spec.get("max", 100), size=shape).astype(kind)
    if kind in ("int8", "int16", "uint8", "uint16"):
        limits = np.iinfo(kind)
        return rng.integers(limits.min, limits.max, size=shape, endpoint=True).astype(kind)
    if kind == "bool":
        return rng.integers(0, 2, size=shape).astype(bool)
    raise ValueError(kind)


class Writer:
    def __init__(self, out):
        self.out = Path(out)
        self.models = []
        self.broken = {}
        self.unsafe = {}
        self.intermediates = {}
        self.file_tables = {}
        self.special = {}

    def add(self, name, input_specs, output_names, formats, predict, batch_sizes=BATCH_SIZES, tolerance=1e-5):
        """formats: {format: {"path", "inputs": {logical: feed name}, "outputs": {logical: fetch name}}}"""
        rng = np.random.default_rng(sum(map(ord, name)))
        cases = []
        case_dir = self.out / name / "cases"
        case_dir.mkdir(parents=True, exist_ok=True)
        for batch in batch_sizes:
            if batch == 0:
                # hepinfer never lets an empty batch reach a kernel (oneDNN's convolution returns its
                # input unchanged on 0 rows, Keras' LSTM cannot run on 0 rows at all): it answers with
                # the outputs of a one-row run cut to 0 rows. The reference is made the same way, so
                # that it does not depend on the host CPU or on TF_ENABLE_ONEDNN_OPTS.
                one_row = {spec["name"]: random_input(rng, spec, 1) for spec in input_specs}
                inputs = {key: value[:0] for key, value in one_row.items()}
                outputs = {key: np.asarray(value)[:0] for key, value in predict(one_row).items()}
            else:
                inputs = {spec["name"]: random_input(rng, spec, batch) for spec in input_specs}
                outputs = predict(inputs)
            case = {"batch": batch, "inputs": {}, "outputs": {}}
            for kind, arrays in (("inputs", inputs), ("outputs", outputs)):
                for logical, array in arrays.items():
                    rel = f"{name}/cases/b{batch}_{kind}_{logical}.npy"
                    np.save(self.out / rel, np.ascontiguousarray(array))
                    case[kind][logical] = rel
            cases.append(case)
        self.models.append({
            "name": name,
            "inputs": [spec["name"] for spec in input_specs],
            "outputs": list(output_names),
            "formats": formats,
            "cases": cases,
            "tolerance": tolerance,
        })

    def finish(self):
        onednn = {"enabled": bool(_pywrap_util_port.IsMklEnabled()),
                  "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS")}
        manifest = {"tensorflow": tf.__version__, "onednn": onednn, "models": self.models, "broken": self.broken,
                    "unsafe": self.unsafe, "intermediates": self.intermediates, "file_tables": self.file_tables, "special": self.special}
        (self.out / "manifest.json").write_text(json.dumps(manifest, indent=2))


def export_keras(writer, name, model, input_specs, output_names, batch_sizes=BATCH_SIZES, tolerance=1e-5):
    """Exports a Keras model as a SavedModel and as a frozen graph. A Keras 3 model is exported with
    model.export. A Keras 2 (tf_keras) one is saved with model.save(DIR), as most trained HEP models
    were: that SavedModel also carries every layer's training functions (gradient ops), and an LSTM
    or GRU both as cuDNN and plain functions that grappler chooses between by device. Keras 2 names
    the signature's outputs after the output layers, which must carry the logical names."""
    base = writer.out / name
    saved = base / "saved_model"
    keras2 = isinstance(model, tf_keras.Model)
    if keras2:
        model.save(str(saved))
    else:
        model.export(str(saved), format="tf_saved_model", verbose=False)

    # Map logical names onto the exported signature's keys.
    serving = tf.saved_model.load(str(saved)).signatures["serving_default"]
    sig_inputs = serving.structured_input_signature[1]
    sig_outputs = sorted(serving.structured_outputs.keys())
    saved_inputs = {spec["name"]: spec["name"] for spec in input_specs}
    assert set(saved_inputs.values()) == set(sig_inputs), (sig_inputs, saved_inputs)
    if keras2:
        assert sig_outputs == sorted(output_names), (sig_outputs, output_names)
        saved_outputs = {logical: logical for logical in output_names}
    else:
        saved_outputs = dict(zip(output_names, sig_outputs)) if len(sig_outputs) > 1 else {output_names[0]: sig_outputs[0]}

    # Frozen graph: trace the model with named placeholders, fold the variables into constants.
    signature = [tf.TensorSpec([None] + list(spec["shape"][1:]), spec["dtype"], name=spec["name"]) for spec in input_specs]

    @tf.function(input_signature=signature)
    def serve(*args):
        result = model(list(args) if len(args) > 1 else args[0], training=False)
        return result if isinstance(result, (list, tuple)) else [result]

    frozen = convert_variables_to_constants_v2(serve.get_concrete_function())
    tf.io.write_graph(frozen.graph.as_graph_def(), str(base), "frozen.pb", as_text=False)
    frozen_inputs = {spec["name"]: t.name for spec, t in zip(input_specs, frozen.inputs)}
    # The first convolution's raw output, which no signature describes: fetching it on an empty
    # batch exercises hepinfer's probe path (oneDNN's Conv2D returns its input there).
    conv = next((op for op in frozen.graph.get_operations() if op.type == "Conv2D"), None)
    if conv is not None:
        writer.intermediates[name] = {"tensor": conv.outputs[0].name,
                                      "shape": [None] + conv.outputs[0].shape.as_list()[1:]}
    frozen_outputs = {logical: t.name for logical, t in zip(output_names, frozen.outputs)}

    def predict(inputs):
        args = [inputs[spec["name"]] for spec in input_specs]
        result = model(args if len(args) > 1 else args[0], training=False)
        result = result if isinstance(result, (list, tuple)) else [result]
        return {logical: np.asarray(r) for logical, r in zip(output_names, result)}

    formats = {
        "saved_model": {"path": f"{name}/saved_model", "inputs": saved_inputs, "outputs": saved_outputs},
        "frozen_graph": {"path": f"{name}/frozen.pb", "inputs": frozen_inputs, "outputs": frozen_outputs},
        "saved_model_tf_save": save_with_signature(model, base / "saved_model_tf_save", input_specs, output_names),
    }
    formats["saved_model_tf_save"]["path"] = f"{name}/saved_model_tf_save"
    writer.add(name, input_specs, output_names, formats, predict, batch_sizes, tolerance)


def save_with_signature(model, path, input_specs, output_names):
    """Saves `model` the way many analyses do, tf.saved_model.save with a serving function of their
    own, rather than model.export. Keras 3 then captures variable handles that the checkpoint does
    not name: only the SavedModel's object graph binds them (what hepinfer's loader must follow)."""
    specs = [tf.TensorSpec([None] + list(spec["shape"][1:]), spec["dtype"], name=spec["name"]) for spec in input_specs]

    @tf.function(input_signature=specs)
    def serve(*args):
        result = model(list(args) if len(args) > 1 else args[0], training=False)
        result = result if isinstance(result, (list, tuple)) else [result]
        return {f"out{i}": r for i, r in enumerate(result)}

    tf.saved_model.save(model, str(path), signatures={"serving_default": serve})
    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    keys = sorted(signature.structured_input_signature[1])
    assert keys == sorted(spec["name"] for spec in input_specs), keys
    return {"inputs": {spec["name"]: spec["name"] for spec in input_specs},
            "outputs": {logical: f"out{i}" for i, logical in enumerate(output_names)}}


def add_broken_checkpoints(writer, name):
    """Copies of `name`'s tf.saved_model.save export whose checkpoint disagrees with the object
    graph: one variable's value missing, one with another shape. hepinfer must refuse both at load,
    naming the variable and the checkpoint."""
    import shutil
    source = writer.out / name / "saved_model_tf_save"
    prefix = str(source / "variables" / "variables")
    reader = tf.train.load_checkpoint(prefix)
    keys = sorted(k for k in reader.get_variable_to_shape_map() if k.endswith("VARIABLE_VALUE"))
    for kind, edit in (("checkpoint_missing_value", "drop"), ("checkpoint_wrong_shape", "reshape")):
        target = writer.out / name / kind
        shutil.copytree(source, target)
        tensors = {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()}
        if edit == "drop":
            del tensors[keys[0]]
        else:
            tensors[keys[0]] = np.zeros(tuple(d + 1 for d in tensors[keys[0]].shape), tensors[keys[0]].dtype)
        shutil.rmtree(target / "variables")
        (target / "variables").mkdir()
        names = sorted(tensors)
        tf.raw_ops.SaveV2(prefix=str(target / "variables" / "variables"), tensor_names=names,
                          shape_and_slices=[""] * len(names), tensors=[tf.constant(tensors[n]) for n in names])
        writer.broken[kind] = f"{name}/{kind}"


def mlp():
    inputs = keras.Input((32,), name="x")
    h = inputs
    for i in range(4):
        h = keras.layers.Dense(256, activation="relu", name=f"dense_{i}")(h)
    out = keras.layers.Dense(8, activation="softmax", name="prob")(h)
    return keras.Model(inputs, out, name="mlp")


class WideScratch(keras.layers.Layer):
    """Needs 4 MiB of scratch memory per row (each row is broadcast to 2**20 values and averaged
    back), so that memory limits bite at modest batch sizes in the out-of-memory tests."""

    def call(self, x):
        wide = tf.tile(x[:, :1], [1, 2**20])
        return x + tf.reduce_mean(tf.sin(wide), axis=1, keepdims=True)


def wide():
    inputs = keras.Input((8,), name="x")
    h = keras.layers.Dense(8, activation="tanh", name="dense")(inputs)
    return keras.Model(inputs, WideScratch(name="scratch")(h), name="wide")


def cnn():
    inputs = keras.Input((16, 16, 3), name="image")
    h = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(16, 3)(h)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    out = keras.layers.Dense(5, activation="softmax")(h)
    model = keras.Model(inputs, out, name="cnn")
    # Non-trivial moving statistics, so that batch normalisation really changes the result.
    rng = np.random.default_rng(7)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([
                rng.uniform(0.5, 1.5, gamma.shape).astype(np.float32),
                rng.normal(0, 0.2, beta.shape).astype(np.float32),
                rng.normal(0, 0.3, mean.shape).astype(np.float32),
                rng.uniform(0.5, 2.0, var.shape).astype(np.float32),
            ])
    return model


def lstm():
    inputs = keras.Input((10, 6), name="sequence")
    h = keras.layers.LSTM(16)(inputs)
    out = keras.layers.Dense(3)(h)
    return keras.Model(inputs, out, name="lstm")


class ScaleShift(keras.layers.Layer):
    """A custom layer with weights of its own (add_weight)."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), name="scale",
                                     initializer=keras.initializers.RandomUniform(0.5, 1.5))
        self.shift = self.add_weight(shape=(input_shape[-1],), name="shift",
                                     initializer=keras.initializers.RandomNormal(stddev=0.3))

    def call(self, x):
        return x * self.scale + self.shift


def custom_f64():
    """Float64 weights and a custom layer."""
    inputs = keras.Input((12,), name="x", dtype="float64")
    h = keras.layers.Dense(8, activation="relu", dtype="float64")(inputs)
    h = ScaleShift(dtype="float64", name="scale_shift")(h)
    out = keras.layers.Dense(3, dtype="float64")(h)
    return keras.Model(inputs, out, name="custom_f64")


def conv_gru():
    inputs = keras.Input((12, 5), name="track")
    h = keras.layers.Conv1D(8, 3, activation="relu")(inputs)
    h = keras.layers.GRU(12)(h)
    out = keras.layers.Dense(2)(h)
    return keras.Model(inputs, out, name="conv_gru")


def keras2_recurrent():
    """A DeepJet-like tagger built with Keras 2 (tf_keras), the way many trained HEP models were:
    charged particles through a 1x1 convolution and a backwards LSTM, neutral ones, zero-padded, through
    Masking and a bidirectional GRU, global features through batch normalisation; a class and a
    regression output."""
    layers = tf_keras.layers
    glob = tf_keras.Input((8,), name="glob")
    cpf = tf_keras.Input((10, 6), name="cpf")
    npf = tf_keras.Input((8, 4), name="npf")
    g = layers.BatchNormalization()(glob)
    c = layers.Conv1D(12, 1, activation="relu")(cpf)
    c = layers.LSTM(16, go_backwards=True)(c)
    n = layers.Masking(mask_value=0.0)(npf)
    n = layers.Bidirectional(layers.GRU(6))(n)
    h = layers.Concatenate()([g, c, n])
    h = layers.Dense(32, activation="relu")(h)
    h = layers.Dropout(0.1)(h)
    probs = layers.Dense(4, activation="softmax", name="probs")(h)
    pt = layers.Dense(1, name="pt")(h)
    model = tf_keras.Model([glob, cpf, npf], [probs, pt], name="keras2_recurrent")
    for weight in model.weights:  # batch statistics as after training, not 0 and 1
        if "moving" in weight.name:
            weight.assign(np.linspace(0.5, 1.5, weight.shape[0], dtype=np.float32))
    return model


def attention():
    """A transformer block over a padded particle list, as in particle transformers: layer norm,
    multi-head self-attention under a padding mask (a bool input), GELU, masked mean pooling."""
    particles = keras.Input((10, 8), name="particles")
    mask = keras.Input((10,), name="mask", dtype="bool")
    h = keras.layers.LayerNormalization()(particles)
    h = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)(
        h, h, attention_mask=keras.ops.logical_and(mask[:, None, :], mask[:, :, None]))
    h = keras.layers.Add()([particles, h])
    h = keras.layers.Dense(16, activation="gelu")(h)
    weights = keras.ops.cast(mask, "float32")[:, :, None]
    pooled = keras.ops.sum(h * weights, axis=1) / (keras.ops.sum(weights, axis=1) + 1.0)
    out = keras.layers.Dense(3, activation="softmax", name="prob")(pooled)
    return keras.Model([particles, mask], out)


class NearestNeighbourEdges(keras.layers.Layer):
    """ParticleNet's EdgeConv input: for each point its k nearest neighbours in `points` (top_k of
    negated squared distances), and per edge the point's features and the neighbour's difference."""

    def __init__(self, k, **kwargs):
        super().__init__(**kwargs)
        self.k = k

    def call(self, points, features):
        distances = tf.reduce_sum(tf.square(points[:, :, None, :] - points[:, None, :, :]), axis=-1)
        _, neighbours = tf.math.top_k(-distances, k=self.k)
        gathered = tf.gather(features, neighbours, batch_dims=1)
        centre = tf.broadcast_to(features[:, :, None, :], tf.shape(gathered))
        return tf.concat([centre, gathered - centre], axis=-1)


def particle_cloud():
    points = keras.Input((16, 2), name="points")
    features = keras.Input((16, 5), name="features")
    edges = NearestNeighbourEdges(4)(points, features)
    h = keras.layers.Dense(16, activation="relu")(edges)
    h = keras.layers.Lambda(lambda t: tf.reduce_mean(t, axis=2))(h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    out = keras.layers.Dense(2, activation="softmax", name="prob")(h)
    return keras.Model([points, features], out)


def multi_io():
    jets = keras.Input((10, 4), name="jets")
    event = keras.Input((6,), name="event")
    h = keras.layers.Concatenate()([keras.layers.Flatten()(jets), event])
    h = keras.layers.Dense(64, activation="relu")(h)
    cls = keras.layers.Dense(3, activation="softmax", name="cls")(h)
    reg = keras.layers.Dense(1, name="reg")(h)
    return keras.Model([jets, event], [cls, reg], name="multi_io")


def embedding():
    ids = keras.Input((12,), dtype="int64", name="ids")
    h = keras.layers.Embedding(100, 8)(ids)
    h = keras.layers.GlobalAveragePooling1D()(h)
    out = keras.layers.Dense(4)(h)
    return keras.Model(ids, out, name="embedding")


class ExactGelu(keras.layers.Layer):
    """GELU written out with tf.math.erf, as BERT's TF code has it. TF lowers Erf to mhlo.erf, which
    no StableHLO version has: XLA artifacts keep such programs as HLO modules."""

    def call(self, x):
        return 0.5 * x * (1.0 + tf.math.erf(x / tf.sqrt(2.0)))


def exact_gelu():
    inputs = keras.Input((16,), name="x")
    h = ExactGelu()(keras.layers.Dense(32)(inputs))
    return keras.Model(inputs, keras.layers.Dense(4)(h), name="exact_gelu")


class Tangent(keras.layers.Layer):
    """tf.math.tan lowers to stablehlo.tan, which StableHLO 1.0.0 lacks: XLA artifacts of it are
    written for a later version."""

    def call(self, x):
        return tf.math.tan(0.5 * tf.tanh(x))


def tangent():
    inputs = keras.Input((6,), name="x")
    h = Tangent()(keras.layers.Dense(8)(inputs))
    return keras.Model(inputs, keras.layers.Dense(2)(h), name="tangent")


def add_closed_form_model(writer, name, specs, outputs, compute, tolerance):
    """A tf.Module serving compute(**inputs) (closed-form outputs, by key) over `specs`, saved as a
    SavedModel and as a frozen graph."""
    names = [spec["name"] for spec in specs]
    signature = [tf.TensorSpec(spec["shape"], spec["dtype"], name=spec["name"]) for spec in specs]
    module = tf.Module()
    module.serve = tf.function(lambda *tensors: compute(**dict(zip(names, tensors))), input_signature=signature)
    tf.saved_model.save(module, str(writer.out / name / "saved_model"), signatures={"serving_default": module.serve})
    frozen = convert_variables_to_constants_v2(module.serve.get_concrete_function())
    tf.io.write_graph(frozen.graph.as_graph_def(), str(writer.out / name), "frozen.pb", as_text=False)
    # tf.nest flattens the output dict in sorted key order.
    frozen_outputs = {key: t.name for key, t in zip(sorted(outputs), frozen.outputs)}

    def predict(inputs):
        result = compute(**{k: tf.constant(v) for k, v in inputs.items()})
        return {k: result[k].numpy() for k in outputs}

    formats = {
        "saved_model": {"path": f"{name}/saved_model", "inputs": {n: n for n in names}, "outputs": {o: o for o in outputs}},
        "frozen_graph": {"path": f"{name}/frozen.pb", "inputs": {n: n + ":0" for n in names}, "outputs": frozen_outputs},
    }
    writer.add(name, specs, outputs, formats, predict, tolerance=tolerance)


def add_xla_call_module_model(writer):
    """xla_call_module: what Keras 3 models exported from the JAX backend (model.export) and jax2tf
    models are, an XlaCallModule op running a serialized StableHLO module whose batch is polymorphic.
    Written without JAX: a two-layer network as StableHLO text, serialized as a portable artifact of
    the oldest StableHLO version TF reads."""
    from tensorflow.compiler.mlir.stablehlo import stablehlo
    from tensorflow.compiler.tf2xla.python import xla
    rng = np.random.default_rng(31)
    w1, w2 = rng.standard_normal((4, 8)).astype(np.float32), rng.standard_normal((8, 3)).astype(np.float32)

    def constant(array):
        rows = ", ".join("[" + ", ".join(f"{value:.9e}" for value in row) + "]" for row in array)
        return f"stablehlo.constant dense<[{rows}]> : tensor<{array.shape[0]}x{array.shape[1]}xf32>"
    text = f"""
module @jit_tagger attributes {{jax.uses_shape_polymorphism = true, mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32}} {{
  func.func public @main(%x: tensor<?x4xf32>) -> tensor<?x3xf32> {{
    %w1 = {constant(w1)}
    %w2 = {constant(w2)}
    %0 = stablehlo.dot_general %x, %w1, contracting_dims = [1] x [0] : (tensor<?x4xf32>, tensor<4x8xf32>) -> tensor<?x8xf32>
    %1 = stablehlo.tanh %0 : tensor<?x8xf32>
    %2 = stablehlo.dot_general %1, %w2, contracting_dims = [1] x [0] : (tensor<?x8xf32>, tensor<8x3xf32>) -> tensor<?x3xf32>
    %3 = stablehlo.logistic %2 : tensor<?x3xf32>
    return %3 : tensor<?x3xf32>
  }}
}}"""
    module = stablehlo.serialize_portable_artifact_str(text, stablehlo.get_minimum_version())

    def compute(x):
        (y,) = xla.call_module([x], version=9, module=module, Tout=[tf.float32], Sout=[tf.TensorShape([None, 3])],
                               platforms=["CPU"])
        return {"y": y}
    add_closed_form_model(writer, "xla_call_module", [{"name": "x", "dtype": "float32", "shape": [None, 4]}], ["y"],
                          compute, tolerance=1e-5)


def add_dtypes_model(writer):
    """A tf.Module over every supported dtype, with closed-form outputs (and one identity)."""
    name = "dtypes"
    specs = [
        {"name": "f32", "dtype": "float32", "shape": [None, 3]},
        {"name": "f64", "dtype": "float64", "shape": [None, 3]},
        {"name": "i32", "dtype": "int32", "shape": [None, 3]},
        {"name": "i64", "dtype": "int64", "shape": [None, 3]},
        {"name": "flag", "dtype": "bool", "shape": [None, 3]},
    ]
    outputs = ["f32_out", "f64_out", "i32_out", "i64_out", "flag_out", "f32_identity"]

    def compute(f32, f64, i32, i64, flag):
        return {
            "f32_out": f32 * 2.0 + 1.0,
            "f64_out": f64 * 0.5,
            "i32_out": i32 * 3,
            "i64_out": i64 + 7,
            "flag_out": tf.logical_not(flag),
            "f32_identity": tf.identity(f32),
        }

    add_closed_form_model(writer, name, specs, outputs, compute, tolerance=0.0)


def add_narrow_dtypes_model(writer):
    """narrow_dtypes: float16 (what Keras' mixed precision returns) and the small integers of raw
    detector data (ADC counts, hit maps, images), each fed over its whole range, with outputs of the
    same dtypes and of float32. Integer arithmetic wraps around in TF, as it must in every backend."""
    name = "narrow_dtypes"
    specs = [
        {"name": "half", "dtype": "float16", "shape": [None, 3]},
        {"name": "i8", "dtype": "int8", "shape": [None, 3]},
        {"name": "i16", "dtype": "int16", "shape": [None, 3]},
        {"name": "u8", "dtype": "uint8", "shape": [None, 3]},
        {"name": "u16", "dtype": "uint16", "shape": [None, 3]},
    ]
    outputs = ["half_out", "half_sum", "i8_out", "i16_out", "u8_scaled", "u8_out", "u16_out"]

    def compute(half, i8, i16, u8, u16):
        return {
            "half_out": half * tf.constant(2.0, tf.float16) + tf.constant(0.5, tf.float16),
            "half_sum": tf.reduce_sum(half, axis=1),
            "i8_out": i8 * tf.constant(3, tf.int8),
            "i16_out": i16 - tf.constant(7, tf.int16),
            "u8_scaled": tf.cast(u8, tf.float32) / 255.0,
            "u8_out": u8 + tf.constant(100, tf.uint8),
            "u16_out": u16 // tf.constant(3, tf.uint16),
        }

    # A float16 sum may round its last bit differently where a backend accumulates in float32.
    add_closed_form_model(writer, name, specs, outputs, compute, tolerance=1e-3)


def mixed_precision():
    """Keras' mixed_float16 policy, as models trained on GPUs use it: float16 compute, float32
    weights, and (no dtype given to the last layer) a float16 output."""
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        inputs = keras.Input((10,), name="x")
        h = keras.layers.Dense(32, activation="relu")(inputs)
        h = keras.layers.LayerNormalization()(h)
        h = keras.layers.Dense(16, activation="gelu")(h)
        return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(h), name="mixed_precision")
    finally:
        keras.mixed_precision.set_global_policy("float32")


def mixed_bfloat16():
    """Keras' mixed_bfloat16 policy, as models trained on TPUs and recent GPUs use it: bfloat16
    compute, float32 weights, and a float32 last layer (hepinfer refuses bfloat16 outputs, saying to
    do this). The LSTM's zero state is a float made bfloat16 once and broadcast, which XLA's AOT
    code converts by calling a runtime function (__truncsfbf2) that GCC 12's libgcc lacks."""
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        inputs = keras.Input((10, 4), name="hits")
        h = keras.layers.Conv1D(16, 3, padding="same", activation="relu")(inputs)
        h = keras.layers.LSTM(16)(h)
        h = keras.layers.Dense(16, activation="tanh")(h)
        outputs = keras.layers.Dense(3, activation="softmax", dtype="float32")(h)
        return keras.Model(inputs, outputs, name="mixed_bfloat16")
    finally:
        keras.mixed_precision.set_global_policy("float32")


def add_tf1_model(writer):
    """A TF1-style graph (placeholders, variables, a session), frozen and saved with the v1 builder."""
    name = "tf1_graph"
    base = writer.out / name
    graph = tf.Graph()
    rng = np.random.default_rng(11)
    with graph.as_default():
        v1 = tf.compat.v1
        x = v1.placeholder(tf.float32, [None, 8], name="x")
        w1 = v1.Variable(rng.standard_normal((8, 16)).astype(np.float32), name="w1")
        b1 = v1.Variable(rng.standard_normal(16).astype(np.float32), name="b1")
        w2 = v1.Variable(rng.standard_normal((16, 4)).astype(np.float32), name="w2")
        hidden = tf.nn.relu(tf.matmul(x, w1) + b1, name="hidden")
        prob = tf.nn.softmax(tf.matmul(hidden, w2), name="prob")
        session = v1.Session(graph=graph)
        session.run(v1.global_variables_initializer())
        frozen = v1.graph_util.convert_variables_to_constants(session, graph.as_graph_def(), ["prob"])
        tf.io.write_graph(frozen, str(base), "frozen.pb", as_text=False)
        # Broken variants for the error tests: variables left in, and an op TF does not know.
        tf.io.write_graph(graph.as_graph_def(), str(base), "unfrozen.pb", as_text=False)
        unknown_op = tf.compat.v1.GraphDef()
        unknown_op.CopyFrom(frozen)
        next(node for node in unknown_op.node if node.name == "hidden").op = "HepinferNoSuchOp"
        tf.io.write_graph(unknown_op, str(base), "unknown_op.pb", as_text=False)
        writer.broken.update({"unfrozen": f"{name}/unfrozen.pb", "unknown_op": f"{name}/unknown_op.pb"})
        save_tf1_saved_model(session, base / "saved_model", {"x": x}, {"prob": prob})
    add_tf1_family(writer, name, session, x, prob)


def save_tf1_saved_model(session, path, inputs, outputs, **builder_options):
    """Saves `session`'s graph with TF1's builder, its serving_default signature of these tensors."""
    v1 = tf.compat.v1
    builder = v1.saved_model.Builder(str(path))
    signature = v1.saved_model.signature_def_utils.predict_signature_def(inputs=inputs, outputs=outputs)
    builder.add_meta_graph_and_variables(session, [v1.saved_model.tag_constants.SERVING],
                                         signature_def_map={"serving_default": signature}, **builder_options)
    builder.save()


def add_tf1_family(writer, name, session, x, prob):
    """The test family `name` (x -> prob) whose SavedModel and frozen graph are written in
    NAME/saved_model and NAME/frozen.pb; `session` computes the references."""
    def predict(inputs):
        return {"prob": session.run(prob, {x: inputs["x"]})}

    formats = {
        "saved_model": {"path": f"{name}/saved_model", "inputs": {"x": "x"}, "outputs": {"prob": "prob"}},
        "frozen_graph": {"path": f"{name}/frozen.pb", "inputs": {"x": "x"}, "outputs": {"prob": "prob"}},
    }
    writer.add(name, [{"name": "x", "dtype": "float32", "shape": [None, x.shape[1]]}], ["prob"], formats, predict)


def add_tf1_training_model(writer):
    """tf1_training: a SavedModel exported from the training session itself, as TF1-era trainings did
    (written with TF 1.x's control flow): reference variables (VariableV2, RefSwitch), batch
    normalisation switched by a `training` placeholder, whose moving averages only the train op
    updates (AssignSub), an Adam optimizer with its gradients, a summary. Only the part the serving
    signature reaches may run: the rest must be neither refused nor fetchable. Also frozen."""
    name = "tf1_training"
    base = writer.out / name
    v1 = tf.compat.v1
    v1.disable_control_flow_v2()  # tf.cond as Switch/Merge, as TF 1.x wrote it
    try:
        graph = tf.Graph()
        with graph.as_default():
            v1.set_random_seed(21)
            x = v1.placeholder(tf.float32, [None, 6], name="x")
            labels = v1.placeholder(tf.float32, [None, 1], name="labels")
            training = v1.placeholder_with_default(False, [], name="training")

            def variable(var_name, shape, initializer, trainable=True):
                return v1.get_variable(var_name, shape, initializer=initializer, trainable=trainable,
                                       use_resource=False)
            hidden = tf.matmul(x, variable("w1", [6, 16], v1.glorot_uniform_initializer())) + variable(
                "b1", [16], v1.zeros_initializer())
            moving_mean = variable("moving_mean", [16], v1.zeros_initializer(), trainable=False)
            moving_variance = variable("moving_variance", [16], v1.ones_initializer(), trainable=False)
            gamma = variable("gamma", [16], v1.ones_initializer())
            beta = variable("beta", [16], v1.zeros_initializer())
            mean, variance = tf.nn.moments(hidden, [0])
            v1.add_to_collection(v1.GraphKeys.UPDATE_OPS, v1.assign_sub(moving_mean, 0.1 * (moving_mean - mean)))
            v1.add_to_collection(v1.GraphKeys.UPDATE_OPS,
                                 v1.assign_sub(moving_variance, 0.1 * (moving_variance - variance)))
            normalized = tf.cond(training,
                                 lambda: tf.nn.batch_normalization(hidden, mean, variance, beta, gamma, 1e-3),
                                 lambda: tf.nn.batch_normalization(hidden, moving_mean, moving_variance, beta,
                                                                   gamma, 1e-3))
            logits = tf.matmul(tf.nn.relu(normalized), variable("w2", [16, 1], v1.glorot_uniform_initializer()))
            prob = tf.sigmoid(logits, name="prob")
            loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits), name="loss")
            v1.summary.scalar("training_loss", loss)
            with tf.control_dependencies(v1.get_collection(v1.GraphKeys.UPDATE_OPS)):
                train = v1.train.AdamOptimizer(0.01).minimize(loss, name="train")
            session = v1.Session(graph=graph)
            session.run(v1.global_variables_initializer())
            rng = np.random.default_rng(21)
            for _ in range(30):
                batch = rng.standard_normal((32, 6)).astype(np.float32)
                session.run(train, {x: batch, labels: (batch[:, :1] > 0).astype(np.float32), training: True})
            frozen = v1.graph_util.convert_variables_to_constants(session, graph.as_graph_def(), ["prob"])
            tf.io.write_graph(frozen, str(base), "frozen.pb", as_text=False)
            v1.add_to_collection("saved_model_train_op", train)  # TF 1.x's builder took it as train_op
            save_tf1_saved_model(session, base / "saved_model", {"x": x}, {"prob": prob})
    finally:
        v1.enable_control_flow_v2()
    assert (train.name, loss.name) == ("train", "loss:0")  # what tests/tensorflow/unsafe_ops_test.cpp fetches
    add_tf1_family(writer, name, session, x, prob)


def add_tf1_table_model(writer):
    """tf1_table: a TF1 SavedModel whose lookup table its main op fills (the builder's main_op or
    legacy_init_op: a collection, where TF2 SavedModels have the __saved_model_init_op signature).
    ids 1, 2, 3 map to 10, 20, 30, anything else to -1."""
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        ids = v1.placeholder(tf.int64, [None, 3], name="ids")
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant([1, 2, 3], tf.int64), tf.constant([10.0, 20.0, 30.0])),
            default_value=-1.0)
        values = tf.identity(table.lookup(ids), name="values")
        with v1.Session(graph=graph) as session:
            session.run(v1.tables_initializer())
            save_tf1_saved_model(session, writer.out / "tf1_table", {"ids": ids}, {"values": values},
                                 main_op=v1.tables_initializer())
    writer.special["tf1_table"] = "tf1_table"


def add_unsafe_models(writer):
    """Graphs that try to touch the file system or run Python, for the op-allowlist tests. Each
    writes (or reads) a file named in the manifest if it ever runs; hepinfer must refuse to load
    them unless told otherwise."""
    base = writer.out / "unsafe"
    base.mkdir(parents=True, exist_ok=True)
    spec = tf.TensorSpec([None, 4], tf.float32, name="x")
    written = {}

    def writing(target):
        @tf.function(input_signature=[spec])
        def serve(x):
            tf.io.write_file(str(target), "written by a model")
            return {"y": x * 2.0}
        return serve

    # A frozen graph with WriteFile on the inference path.
    target = base / "written_by_frozen_graph.txt"
    frozen = convert_variables_to_constants_v2(writing(target).get_concrete_function())
    tf.io.write_graph(frozen.graph.as_graph_def(), str(base), "write_file.pb", as_text=False)
    written["write_file_frozen"] = {"path": "unsafe/write_file.pb", "op": "WriteFile", "target": str(target),
                                    "input": frozen.inputs[0].name, "output": frozen.outputs[0].name}

    # A SavedModel whose serving function (in the function library) writes the file.
    target = base / "written_by_saved_model.txt"
    module = tf.Module()
    module.scale = tf.Variable(2.0)
    module.serve = writing(target)
    tf.saved_model.save(module, str(base / "write_file_saved_model"), signatures={"serving_default": module.serve})
    written["write_file_saved_model"] = {"path": "unsafe/write_file_saved_model", "op": "WriteFile",
                                         "target": str(target), "input": "x", "output": "y"}

    # A SavedModel whose serving function calls a harmless function, while another implementation of
    # the same API ("api_implements", as Keras 2's cuDNN and plain LSTMs) writes the file. Nothing
    # calls it, but grappler's implementation selector swaps it in on a CPU, where it prefers to run.
    target = base / "written_by_alternative.txt"
    doubling = {"api_implements": "hepinfer_doubling"}
    plain = tf.function(lambda x: x * 2.0, experimental_attributes={**doubling, "api_preferred_device": "GPU"})

    def writing_alternative(x):
        tf.io.write_file(str(target), "written by an alternative implementation")
        return x * 2.0
    alternative = tf.function(writing_alternative, experimental_attributes={**doubling, "api_preferred_device": "CPU"})

    @tf.function(input_signature=[spec])
    def serve_plain(x):
        alternative.get_concrete_function(spec).add_to_graph()  # in the library, called by nothing
        return {"y": plain(x)}
    module = tf.Module()
    module.serve = serve_plain
    tf.saved_model.save(module, str(base / "write_file_alternative"), signatures={"serving_default": serve_plain})
    written["write_file_alternative"] = {"path": "unsafe/write_file_alternative", "op": "WriteFile",
                                         "target": str(target), "input": "x", "output": "y"}

    # Reading a file, and running Python.
    @tf.function(input_signature=[spec])
    def reading(x):
        return {"y": x + tf.cast(tf.strings.length(tf.io.read_file("/etc/hostname")), tf.float32)}

    frozen = convert_variables_to_constants_v2(reading.get_concrete_function())
    tf.io.write_graph(frozen.graph.as_graph_def(), str(base), "read_file.pb", as_text=False)
    written["read_file_frozen"] = {"path": "unsafe/read_file.pb", "op": "ReadFile", "target": "",
                                   "input": frozen.inputs[0].name, "output": frozen.outputs[0].name}

    @tf.function(input_signature=[spec])
    def python(x):
        return {"y": tf.py_function(lambda t: t * 3.0, [x], tf.float32)}

    frozen = convert_variables_to_constants_v2(python.get_concrete_function())
    tf.io.write_graph(frozen.graph.as_graph_def(), str(base), "py_function.pb", as_text=False)
    written["py_function_frozen"] = {"path": "unsafe/py_function.pb", "op": "EagerPyFunc", "target": "",
                                     "input": frozen.inputs[0].name, "output": frozen.outputs[0].name}
    writer.unsafe = written


def add_stateful_model(writer):
    """A SavedModel whose serving function writes a variable (a call counter added to the output):
    freezing must leave that variable live, so two runs on the same input differ by one."""
    class Counter(tf.Module):
        def __init__(self):
            super().__init__()
            self.calls = tf.Variable(0.0)
            self.scale = tf.Variable(2.0)

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def serve(self, x):
            self.calls.assign(self.calls + 1.0)
            return {"y": x * self.scale + self.calls}

    module = Counter()
    tf.saved_model.save(module, str(writer.out / "stateful_counter"), signatures={"serving_default": module.serve})
    writer.special["stateful_counter"] = "stateful_counter"


def add_variable_length_model(writer):
    """A particle list of any length ([None, None, 6]: a weighted sum over the particles). The
    compilers need its length fixed (--input-shape); the reference is at 5 particles."""
    class ParticleSum(tf.Module):
        def __init__(self):
            super().__init__()
            self.weights = tf.Variable(np.linspace(-1.0, 1.0, 6, dtype=np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, None, 6], tf.float32, name="particles")])
        def serve(self, particles):
            return {"summed": tf.reduce_sum(tf.tanh(particles * self.weights), axis=1)}

    module = ParticleSum()
    base = writer.out / "variable_length"
    tf.saved_model.save(module, str(base / "saved_model"), signatures={"serving_default": module.serve})
    particles = np.random.default_rng(11).standard_normal((3, 5, 6)).astype(np.float32)
    np.save(base / "particles_5.npy", particles)
    np.save(base / "summed_5.npy", module.serve(tf.constant(particles))["summed"].numpy())
    writer.special["variable_length"] = "variable_length"


def add_signature_edge_models(writer):
    """Signatures the compilers must read as the TF backend does:
    - awkward_names: keys that are not Python names (input 'jet.pt-eta', output 'tagger/probs:0');
    - fixed_batch: a batch fixed at 1 ([1, 4]), compiled at that batch alone; the reference is
      three rows, each run alone;
    - batch_statistics: each row minus the batch's mean, and batch_count: each row divided by the
      number of rows, which padding and splitting would change;
    - rows_last: an output with the batch along its second dimension (a transpose), which cannot
      be split along the first;
    - per_call_inputs: beside x [None, 4], a scalar 'scale' and a table [3, 4], fed whole with
      every run; the reference input has 3 rows, as many as the table, which must not be taken
      for rows (scale.npy, table.npy, reference.npy);
    - ragged_input: a signature over a ragged particle list ([None, None, 3], summed per event),
      which TF feeds as values and row splits: the TF backend runs it (values.npy, row_splits.npy,
      reference.npy: as many values as row splits), the compilers refuse it;
    - value_dependent_shape: the rows whose first feature is positive (tf.boolean_mask), an
      output whose length depends on the values, which XLA only bounds."""
    weights = tf.constant(np.random.default_rng(12).standard_normal((4, 3)).astype(np.float32))
    rows = np.random.default_rng(13).standard_normal((3, 4)).astype(np.float32)

    def save(name, function, spec):
        module = tf.Module()
        module.serve = tf.function(function, input_signature=[spec])
        tf.saved_model.save(module, str(writer.out / name / "saved_model"), signatures={"serving_default": module.serve})
        np.save(writer.out / name / "input.npy", rows)
        writer.special[name] = name
        return module.serve

    serve = save("awkward_names", lambda x: {"tagger/probs:0": tf.nn.softmax(tf.matmul(x, weights))},
                 tf.TensorSpec([None, 4], tf.float32, name="jet.pt-eta"))
    np.save(writer.out / "awkward_names" / "reference.npy", serve(rows)["tagger/probs:0"].numpy())
    serve = save("fixed_batch", lambda x: {"out": tf.tanh(tf.matmul(x, weights))},
                 tf.TensorSpec([1, 4], tf.float32, name="x"))
    np.save(writer.out / "fixed_batch" / "reference.npy",
            np.concatenate([serve(rows[i:i + 1])["out"].numpy() for i in range(len(rows))]))
    save("batch_statistics", lambda x: {"out": x - tf.reduce_mean(x, axis=0, keepdims=True)},
         tf.TensorSpec([None, 4], tf.float32, name="x"))
    save("batch_count", lambda x: {"out": x / tf.cast(tf.shape(x)[0], tf.float32)},
         tf.TensorSpec([None, 4], tf.float32, name="x"))
    save("rows_last", lambda x: {"out": tf.transpose(x)}, tf.TensorSpec([None, 4], tf.float32, name="x"))
    save("value_dependent_shape", lambda x: {"kept": tf.boolean_mask(x, x[:, 0] > 0)},
         tf.TensorSpec([None, 4], tf.float32, name="x"))
    per_call = tf.Module()
    per_call.serve = tf.function(
        lambda x, scale, table: {"out": tf.tanh(tf.matmul(x, table, transpose_b=True) * scale)},
        input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x"), tf.TensorSpec([], tf.float32, name="scale"),
                         tf.TensorSpec([3, 4], tf.float32, name="table")])
    base = writer.out / "per_call_inputs"
    tf.saved_model.save(per_call, str(base / "saved_model"), signatures={"serving_default": per_call.serve})
    scale = np.float32(1.5)
    table = np.random.default_rng(16).standard_normal((3, 4)).astype(np.float32)
    np.save(base / "input.npy", rows)
    np.save(base / "scale.npy", scale)
    np.save(base / "table.npy", table)
    np.save(base / "reference.npy", per_call.serve(rows, scale, table)["out"].numpy())
    writer.special["per_call_inputs"] = "per_call_inputs"
    ragged = tf.Module()
    ragged.serve = tf.function(lambda particles: {"summed": tf.reduce_sum(particles, axis=1)},
                               input_signature=[tf.RaggedTensorSpec([None, None, 3], tf.float32, ragged_rank=1)])
    tf.saved_model.save(ragged, str(writer.out / "ragged_input" / "saved_model"), signatures={"serving_default": ragged.serve})
    # Two events of 1 and 2 particles: 3 values and 3 row splits, which a splitter taking them for
    # rows would cut alike.
    values = np.random.default_rng(17).standard_normal((3, 3)).astype(np.float32)
    row_splits = np.array([0, 1, 3], dtype=np.int64)
    np.save(writer.out / "ragged_input" / "values.npy", values)
    np.save(writer.out / "ragged_input" / "row_splits.npy", row_splits)
    np.save(writer.out / "ragged_input" / "reference.npy",
            ragged.serve(tf.RaggedTensor.from_row_splits(values, row_splits))["summed"].numpy())
    writer.special["ragged_input"] = "ragged_input"
    # A common slip: tf.saved_model.save without signatures= keeps the functions, but no signature
    # (TF makes one only of an object's single tf.function).
    unsigned = tf.Module()
    spec = tf.TensorSpec([None, 4], tf.float32)
    unsigned.serve = tf.function(lambda x: {"out": x * 2.0}, input_signature=[spec])
    unsigned.calibrate = tf.function(lambda x: {"out": x - 1.0}, input_signature=[spec])
    tf.saved_model.save(unsigned, str(writer.out / "no_signatures"))
    writer.special["no_signatures"] = "no_signatures"


def add_text_and_foreign_files(writer):
    """What users hand over besides binary SavedModels and GraphDefs:
    - text_formats: one model as a SavedModel whose graph is saved_model.pbtxt and as a text
      GraphDef (frozen.pbtxt), which TF reads as it reads the binary ones; input.npy, reference.npy;
    - foreign: files and folders hepinfer cannot run, for which it must say what they are and what
      to give it instead: a Keras archive and .h5 file, TF Lite and ONNX models, a checkpoint, a
      gzipped GraphDef, TF Serving's version folders, and a folder of graphs."""
    import gzip
    import shutil
    import onnx
    from google.protobuf import text_format
    from tensorflow.core.protobuf import saved_model_pb2
    weights = tf.constant(np.random.default_rng(14).standard_normal((4, 3)).astype(np.float32))
    rows = np.random.default_rng(15).standard_normal((5, 4)).astype(np.float32)
    module = tf.Module()
    module.serve = tf.function(lambda x: {"out": tf.tanh(tf.matmul(x, weights))},
                               input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
    text = writer.out / "text_formats"
    tf.saved_model.save(module, str(text / "saved_model"), signatures={"serving_default": module.serve})
    graph = saved_model_pb2.SavedModel()
    graph.ParseFromString((text / "saved_model" / "saved_model.pb").read_bytes())
    (text / "saved_model" / "saved_model.pbtxt").write_text(text_format.MessageToString(graph))
    (text / "saved_model" / "saved_model.pb").unlink()
    frozen = convert_variables_to_constants_v2(module.serve.get_concrete_function())
    tf.io.write_graph(frozen.graph.as_graph_def(), str(text), "frozen.pbtxt", as_text=True)
    np.save(text / "input.npy", rows)
    np.save(text / "reference.npy", module.serve(rows)["out"].numpy())
    writer.special["text_formats"] = "text_formats"

    foreign = writer.out / "foreign"
    foreign.mkdir(parents=True, exist_ok=True)
    inputs = keras.Input((4,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(3, activation="tanh")(inputs))
    model.save(str(foreign / "model.keras"))
    model.save(str(foreign / "model.h5"))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([module.serve.get_concrete_function()], module)
    (foreign / "model.tflite").write_bytes(converter.convert())
    node = onnx.helper.make_node("Tanh", ["x"], ["out"])
    onnx_graph = onnx.helper.make_graph([node], "tanh", [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [None, 4])],
                                        [onnx.helper.make_tensor_value_info("out", onnx.TensorProto.FLOAT, [None, 4])])
    onnx.save(onnx.helper.make_model(onnx_graph, producer_name="hepinfer-tests"), str(foreign / "model.onnx"))
    tf.train.Checkpoint(weights=tf.Variable(weights)).save(str(foreign / "checkpoint" / "model"))
    graph_bytes = frozen.graph.as_graph_def().SerializeToString()
    (foreign / "frozen.pb.gz").write_bytes(gzip.compress(graph_bytes))
    (foreign / "graphs").mkdir(exist_ok=True)
    (foreign / "graphs" / "frozen.pb").write_bytes(graph_bytes)
    for version in ("1", "2"):
        shutil.copytree(text / "saved_model", foreign / "serving" / version, dirs_exist_ok=True)
    # GraphDefs that parse but that TensorFlow cannot import.
    placeholder = tf.compat.v1.NodeDef(name="x", op="Placeholder")
    placeholder.attr["dtype"].type = tf.float32.as_datatype_enum
    placeholder.attr["shape"].shape.CopyFrom(tf.TensorShape([None, 4]).as_proto())
    for name, consumer in (("missing_input", tf.compat.v1.NodeDef(name="y", op="Relu", input=["missing"])),
                           ("unknown_op", tf.compat.v1.NodeDef(name="y", op="NoSuchOp", input=["x"]))):
        consumer.attr["T"].type = tf.float32.as_datatype_enum
        (foreign / f"{name}.pb").write_bytes(tf.compat.v1.GraphDef(node=[placeholder, consumer]).SerializeToString())
    writer.special["foreign"] = "foreign"


def add_non_finite_model(writer):
    """non_finite: particles whose features hold NaN (a missing value) and +-inf (an overflow), through
    what TF computes alike on every kernel path: max and min over particles (NaN propagates), Keras'
    GlobalMaxPooling1D, sums, relu, clipping, a NaN-cleaning tf.where and a dense layer. Left out:
    max-pooling windows, argmax, top_k and sort, whose results TF's CPU kernels make up around a NaN
    (its sort does not even sort; docs/xla.md). input.npy, reference_<output>.npy."""
    rng = np.random.default_rng(16)
    weights = tf.constant(rng.standard_normal((4, 3)).astype(np.float32))
    pooling = keras.layers.GlobalMaxPooling1D()
    module = tf.Module()
    module.serve = tf.function(lambda x: {
        "max": tf.reduce_max(x, axis=1), "min": tf.reduce_min(x, axis=1), "pooled": pooling(x),
        "sum": tf.reduce_sum(x, axis=1), "relu": tf.nn.relu(x), "clipped": tf.clip_by_value(x, -1.0, 1.0),
        "cleaned": tf.reduce_sum(tf.matmul(tf.where(tf.math.is_nan(x), tf.zeros_like(x), x), weights), axis=1),
        "dense": tf.tanh(tf.matmul(x, weights))},
        input_signature=[tf.TensorSpec([None, 5, 4], tf.float32, name="x")])
    base = writer.out / "non_finite"
    tf.saved_model.save(module, str(base / "saved_model"), signatures={"serving_default": module.serve})
    rows = rng.standard_normal((6, 5, 4)).astype(np.float32)
    rows[0, 1, 2] = np.nan
    rows[1, 3, 0] = np.inf
    rows[2, 0, 1] = -np.inf
    rows[3, 2, :] = np.nan
    rows[4, :, 3] = np.nan
    rows[4, 2, 1] = np.inf  # row 5 stays finite
    np.save(base / "input.npy", rows)
    for key, value in module.serve(rows).items():
        np.save(base / f"reference_{key}.npy", value.numpy())
    writer.special["non_finite"] = "non_finite"


def add_unsupported_dtype_models(writer):
    """unsupported_dtypes: signatures of dtypes hepinfer does not take, which must be named, not
    dropped without a word: `strings_only` (a SavedModel whose one signature takes strings),
    `mixed_signatures` (serving_default takes float32; `by_name` takes strings, `bfloat16` returns
    bfloat16), `default_strings` (serving_default takes strings, `numbers` float32) and
    `string_placeholder.pb` (a frozen graph fed strings)."""
    base = writer.out / "unsupported_dtypes"
    lengths = tf.function(lambda text: {"length": tf.strings.length(text)},
                          input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    strings_only = tf.Module()
    strings_only.serve = lengths
    tf.saved_model.save(strings_only, str(base / "strings_only"), signatures={"serving_default": lengths})
    mixed = tf.Module()
    mixed.serve = tf.function(lambda x: {"y": x * 2.0}, input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
    mixed.by_name = lengths
    mixed.narrow = tf.function(lambda x: {"y": tf.cast(x, tf.bfloat16)},
                               input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
    tf.saved_model.save(mixed, str(base / "mixed_signatures"),
                        signatures={"serving_default": mixed.serve, "by_name": mixed.by_name, "bfloat16": mixed.narrow})
    tf.saved_model.save(mixed, str(base / "default_strings"),
                        signatures={"serving_default": mixed.by_name, "numbers": mixed.serve})
    frozen = convert_variables_to_constants_v2(lengths.get_concrete_function())
    tf.io.write_graph(frozen.graph.as_graph_def(), str(base), "string_placeholder.pb", as_text=False)
    writer.special["unsupported_dtypes"] = "unsupported_dtypes"


def add_zero_length_model(writer):
    """zero_length: a Conv1D ('same') over a sequence of any length, summed over the steps. Fed a
    sequence of no steps, TF's own kernel gives zeros of the filters' width, and oneDNN's returns its
    input unchanged (6 wide, not 4): hepinfer must never pass that on."""
    conv = keras.layers.Conv1D(4, 3, padding="same")
    conv.build((None, None, 6))
    module = tf.Module()
    module.conv = conv
    module.serve = tf.function(lambda steps: {"summed": tf.reduce_sum(conv(steps), axis=1)},
                               input_signature=[tf.TensorSpec([None, None, 6], tf.float32, name="steps")])
    tf.saved_model.save(module, str(writer.out / "zero_length" / "saved_model"),
                        signatures={"serving_default": module.serve})
    writer.special["zero_length"] = "zero_length"


def add_beyond_xla_model(writer):
    """beyond_xla: signatures each compiler must refuse in one line that names what it lacks.
    serving_default uses tf.math.special.bessel_j0, for which XLA has no kernel (the TF backend runs
    it); `fft` an FFT and its inverse, which XLA compiles but XLA's ahead-of-time code generator
    cannot emit."""
    module = tf.Module()
    spec = [tf.TensorSpec([None, 8], tf.float32, name="x")]
    module.bessel = tf.function(lambda x: {"y": tf.math.special.bessel_j0(x)}, input_signature=spec)
    module.fft = tf.function(lambda x: {"y": tf.signal.irfft(tf.signal.rfft(x))}, input_signature=spec)
    tf.saved_model.save(module, str(writer.out / "beyond_xla" / "saved_model"),
                        signatures={"serving_default": module.bessel, "fft": module.fft})
    writer.special["beyond_xla"] = "beyond_xla"


def add_integer_division_model(writer):
    """integer_division: hit counts divided by an integer input (floor division, modulo, truncating
    division), as track multiplicities over jet counts. The compilers probe models on rows of ones
    and twos, never zeros, which TF refuses to divide by. counts.npy and divisors.npy (no zero),
    reference_<output>.npy; zero_divisors.npy, which TF refuses and XLA answers."""
    base = writer.out / "integer_division"
    module = tf.Module()
    module.serve = tf.function(
        lambda counts, divisors: {"quotient": counts // divisors, "remainder": counts % divisors,
                                  "truncated": tf.truncatediv(counts, divisors)},
        input_signature=[tf.TensorSpec([None, 3], tf.int32, name="counts"),
                         tf.TensorSpec([None, 3], tf.int32, name="divisors")])
    tf.saved_model.save(module, str(base / "saved_model"), signatures={"serving_default": module.serve})
    counts = np.array([[7, -7, 0], [100, 3, -1]], np.int32)
    divisors = np.array([[2, 2, 5], [-3, 7, 4]], np.int32)
    np.save(base / "counts.npy", counts)
    np.save(base / "divisors.npy", divisors)
    np.save(base / "zero_divisors.npy", np.array([[0, 2, 5], [-3, 7, 4]], np.int32))
    for key, value in module.serve(counts, divisors).items():
        np.save(base / f"reference_{key}.npy", value.numpy())
    writer.special["integer_division"] = "integer_division"


def add_shared_module(writer):
    """A tf.Module whose two functions read the same variables, saved with both as signatures:
    freezing must give both the same weights. The default signature is `scores`; `probabilities`
    is its softmax."""
    rng = np.random.default_rng(11)

    class Shared(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(rng.normal(size=(6, 3)).astype(np.float32))
            self.b = tf.Variable(rng.normal(size=(3,)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, 6], tf.float32, name="x")])
        def scores(self, x):
            return {"scores": tf.matmul(x, self.w) + self.b}

        @tf.function(input_signature=[tf.TensorSpec([None, 6], tf.float32, name="x")])
        def probabilities(self, x):
            return {"probabilities": tf.nn.softmax(tf.matmul(x, self.w) + self.b)}

    module = Shared()
    tf.saved_model.save(module, str(writer.out / "shared_module" / "saved_model"),
                        signatures={"serving_default": module.scores, "probabilities": module.probabilities})

    def predict(inputs):
        return {"scores": module.scores(tf.constant(inputs["x"]))["scores"].numpy()}

    formats = {"saved_model": {"path": "shared_module/saved_model", "inputs": {"x": "x"}, "outputs": {"scores": "scores"}}}
    writer.add("shared_module", [{"name": "x", "dtype": "float32", "shape": [None, 6]}], ["scores"], formats, predict)


def add_table_models(writer):
    """Lookup tables filled from text files when the model loads. `vocab_table` reads its own asset
    (an id -> value vocabulary) and must load and agree with Python; the `file_tables` models name a
    file that is not one of their assets (an absolute path; an asset edited to point outside the
    model) and must be refused, naming the path, unless the user allows it."""
    from tensorflow.core.protobuf import saved_model_pb2
    base = writer.out / "tables"
    base.mkdir(parents=True, exist_ok=True)
    vocabulary = base / "vocabulary.txt"
    vocabulary.write_text("".join(f"{i}\t{(i * 37) % 101}\n" for i in range(100)))
    secret = base / "secret.txt"
    secret.write_text("".join(f"{i}\t{1000 + i}\n" for i in range(100)))

    class VocabularyModel(tf.Module):
        def __init__(self, source):
            super().__init__()
            initializer = tf.lookup.TextFileInitializer(source, tf.int64, 0, tf.int64, 1, delimiter="\t")
            self.table = tf.lookup.StaticHashTable(initializer, default_value=-1)
            self.scale = tf.Variable(0.5)

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.int64, name="ids")])
        def serve(self, ids):
            return {"values": tf.cast(self.table.lookup(ids), tf.float32) * self.scale}

    def save(module, name):
        tf.saved_model.save(module, str(base / name), signatures={"serving_default": module.serve})

    module = VocabularyModel(tf.saved_model.Asset(str(vocabulary)))
    save(module, "vocab_table")

    def predict(inputs):
        return {"values": module.serve(tf.constant(inputs["ids"]))["values"].numpy()}

    formats = {"saved_model": {"path": "tables/vocab_table", "inputs": {"ids": "ids"}, "outputs": {"values": "values"}}}
    # Ids up to 119: those above 99 are not in the vocabulary and get the default.
    writer.add("vocab_table", [{"name": "ids", "dtype": "int64", "shape": [None, 4], "max": 120}], ["values"], formats,
               predict)

    # TF copies any file a table reads into assets/ when it saves, so the crafted models are edited
    # afterwards, as an attacker would: one feeds the initialiser an absolute path from a constant,
    # the other points its asset outside the model.
    def edit(name, change):
        save(VocabularyModel(tf.saved_model.Asset(str(vocabulary))), name)
        graph_file = base / name / "saved_model.pb"
        saved = saved_model_pb2.SavedModel()
        saved.ParseFromString(graph_file.read_bytes())
        change(saved.meta_graphs[0])
        graph_file.write_bytes(saved.SerializeToString())

    def absolute_path(meta_graph):
        graph = meta_graph.graph_def
        path = graph.node.add()
        path.name, path.op = "crafted_path", "Const"
        path.attr["dtype"].type = tf.string.as_datatype_enum
        path.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(str(secret).encode()))
        for node in graph.node:
            if node.op == "StatefulPartitionedCall" and "_initializer_" in node.attr["f"].func.name:
                node.input[0] = "crafted_path"

    def asset_escape(meta_graph):
        for asset in meta_graph.asset_file_def:
            asset.filename = "../../secret.txt"  # tables/asset_escape/assets/../../secret.txt

    edit("absolute_path", absolute_path)
    edit("asset_escape", asset_escape)
    writer.file_tables = {kind: {"path": f"tables/{kind}", "file": str(secret)}
                          for kind in ("absolute_path", "asset_escape")}


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(1234)  # also seeds tf_keras' initialisers (TF's global seed)
    writer = Writer(out)
    f32 = "float32"
    export_keras(writer, "mlp", mlp(), [{"name": "x", "dtype": f32, "shape": [None, 32]}], ["prob"])
    export_keras(writer, "cnn", cnn(), [{"name": "image", "dtype": f32, "shape": [None, 16, 16, 3]}], ["prob"])
    export_keras(writer, "lstm", lstm(), [{"name": "sequence", "dtype": f32, "shape": [None, 10, 6]}], ["out"])
    export_keras(writer, "multi_io", multi_io(),
                 [{"name": "jets", "dtype": f32, "shape": [None, 10, 4]}, {"name": "event", "dtype": f32, "shape": [None, 6]}],
                 ["cls", "reg"])
    export_keras(writer, "embedding", embedding(), [{"name": "ids", "dtype": "int64", "shape": [None, 12], "max": 100}],
                 ["out"])
    # 4 MiB of scratch per row: no large batch.
    export_keras(writer, "wide", wide(), [{"name": "x", "dtype": f32, "shape": [None, 8]}], ["out"],
                 batch_sizes=(0, 1, 5))
    export_keras(writer, "custom_f64", custom_f64(), [{"name": "x", "dtype": "float64", "shape": [None, 12]}], ["out"])
    export_keras(writer, "conv_gru", conv_gru(), [{"name": "track", "dtype": f32, "shape": [None, 12, 5]}], ["out"])
    export_keras(writer, "attention", attention(),
                 [{"name": "particles", "dtype": f32, "shape": [None, 10, 8]}, {"name": "mask", "dtype": "bool", "shape": [None, 10]}],
                 ["prob"])
    export_keras(writer, "particle_cloud", particle_cloud(),
                 [{"name": "points", "dtype": f32, "shape": [None, 16, 2]}, {"name": "features", "dtype": f32, "shape": [None, 16, 5]}],
                 ["prob"])
    export_keras(writer, "keras2_recurrent", keras2_recurrent(),
                 [{"name": "glob", "dtype": f32, "shape": [None, 8]}, {"name": "cpf", "dtype": f32, "shape": [None, 10, 6]},
                  {"name": "npf", "dtype": f32, "shape": [None, 8, 4], "padded_steps": 3}],
                 ["probs", "pt"])
    export_keras(writer, "exact_gelu", exact_gelu(), [{"name": "x", "dtype": f32, "shape": [None, 16]}], ["out"])
    export_keras(writer, "tangent", tangent(), [{"name": "x", "dtype": f32, "shape": [None, 6]}], ["out"])
    add_broken_checkpoints(writer, "mlp")
    # float16 products: XLA rounds in other places than TF's CPU kernels (2 float16 steps apart on
    # the AVX-512 Xeon; 5e-3 is 10 steps near 1).
    export_keras(writer, "mixed_precision", mixed_precision(), [{"name": "x", "dtype": f32, "shape": [None, 10]}],
                 ["prob"], tolerance=5e-3)
    # bfloat16 keeps 8 significant bits (steps of 2^-8 near 1): TF's fused kernels, oneDNN's and
    # XLA's round intermediate results at different places (1.5e-3 apart at most on the AVX-512 Xeon).
    export_keras(writer, "mixed_bfloat16", mixed_bfloat16(), [{"name": "hits", "dtype": f32, "shape": [None, 10, 4]}],
                 ["prob"], tolerance=1e-2)
    add_dtypes_model(writer)
    add_xla_call_module_model(writer)
    add_narrow_dtypes_model(writer)
    add_unsupported_dtype_models(writer)
    add_zero_length_model(writer)
    add_integer_division_model(writer)
    add_beyond_xla_model(writer)
    add_tf1_model(writer)
    add_tf1_training_model(writer)
    add_tf1_table_model(writer)
    add_table_models(writer)
    add_shared_module(writer)
    add_stateful_model(writer)
    add_variable_length_model(writer)
    add_signature_edge_models(writer)
    add_text_and_foreign_files(writer)
    add_non_finite_model(writer)
    add_unsafe_models(writer)
    writer.finish()
    print(f"make_test_models: wrote {len(writer.models)} models to {out}")


if __name__ == "__main__":
    main()
