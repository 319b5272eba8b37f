#!/usr/bin/env python3
"""Compiles a TensorFlow model into an XLA artifact for hepinfer's XLA backend (src/xla).

The model is a SavedModel directory (one signature) or a frozen GraphDef file (its placeholders
are the inputs, its unconsumed nodes the outputs, named as hepinfer's TensorFlow backend names
them). Frozen graphs with TF1 loops (Enter/Exit, e.g. a frozen LSTM) cannot go through XLA:
compile the SavedModel they came from.

The artifact is a directory:
  manifest.json      format, source model and its hash, signature, inputs and outputs (dtype,
                     shape with -1 for the batch; a frozen graph's also its tensor name "x:0"), the compiled batch sizes and their programs
  b<N>.mlirbc        one StableHLO portable artifact per batch size N, weights baked in

Weights are baked into each program as constants (frozen with convert_variables_to_constants_v2):
one file per batch size, no parameters to feed, at the cost of one copy of the weights per batch
size on disk and in the compiled executables.

Usage: compile_xla.py MODEL OUTPUT_DIR [--batch-sizes 1,8,64] [--signature KEY]
(--signature applies to SavedModels; a frozen graph's one signature is "serving_default")
Exit status 2 with one line on stderr for a model it cannot compile.
"""
import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FORMAT = "hepinfer-xla"
FORMAT_VERSION = 1
# Portable artifacts are written for this StableHLO version, which every PJRT plugin since 2024
# reads (the CPU plugin in the lock speaks 1.13.3, jax-cuda13-pjrt 1.22).
STABLEHLO_TARGET = "1.0.0"
DTYPES = {"float32", "float64", "int32", "int64", "bool"}
# TF1 loop ops: XLA compiles functional While, not these.
TF1_LOOP_OPS = {"Enter", "Exit", "Merge", "Switch", "NextIteration", "LoopCond", "RefEnter", "RefExit"}
# Stateful ops XLA has no kernels for, found before freezing (which cannot take them either).
NOT_COMPILABLE = {"HashTableV2", "MutableHashTableV2", "MutableHashTableOfTensorsV2", "LookupTableFindV2",
                  "LookupTableImportV2", "LookupTableInsertV2", "LookupTableSizeV2", "InitializeTableV2",
                  "InitializeTableFromTextFileV2"}
# Unconsumed nodes that are not results (as the TF backend's frozen-graph signature counts them).
NOT_RESULTS = {"Placeholder", "PlaceholderWithDefault", "Const", "NoOp", "Assert", "VarHandleOp", "VariableV2",
               "Variable", "SaveV2", "RestoreV2", "Print", "PrintV2"}


class CompileError(Exception):
    """A model this compiler cannot turn into an artifact; the message says why."""


def fail(message):
    raise CompileError(message)


def model_hash(path):
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def saved_model_function(tf, model, signature):
    """(call, input_specs, output_names) of a SavedModel's signature; call maps names to tensors."""
    loaded = tf.saved_model.load(str(model))
    if signature not in loaded.signatures:
        fail(f"'{model}' has no signature '{signature}' (it has {sorted(loaded.signatures)})")
    function = loaded.signatures[signature]
    input_specs = dict(function.structured_input_signature[1])
    output_names = sorted(function.structured_outputs)

    def call(named):
        result = function(**named)
        return {key: result[key] for key in output_names}

    return call, input_specs, output_names, loaded  # `loaded` keeps the variables alive


def node_name(tensor_name):
    return tensor_name.lstrip("^").split(":")[0]


def frozen_graph_function(tf, model):
    """(call, input_specs, output_names) of a frozen GraphDef, named as the TF backend names them."""
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(model.read_bytes())
    except Exception as error:
        fail(f"'{model}' is neither a SavedModel directory nor a GraphDef file: {error}")
    loops = sorted({node.op for node in graph_def.node if node.op in TF1_LOOP_OPS})
    if loops:
        fail(f"'{model}' is a frozen graph with TF1 loop ops ({', '.join(loops)}), which XLA cannot compile; "
             "compile the SavedModel it was frozen from instead")
    nodes = {node.name: node for node in graph_def.node}
    consumed = {node_name(name) for node in graph_def.node for name in node.input}
    output_names = sorted(node.name for node in graph_def.node
                          if node.name not in consumed and node.op not in NOT_RESULTS)
    if not output_names:
        fail(f"frozen graph '{model}' has no output node")
    needed, pending = set(output_names), list(output_names)
    while pending:
        node = nodes.get(pending.pop())
        for name in node.input if node is not None else []:
            if node_name(name) not in needed:
                needed.add(node_name(name))
                pending.append(node_name(name))
    input_names = sorted(node.name for node in graph_def.node if node.op == "Placeholder" and node.name in needed)

    wrapped = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
    graph = wrapped.graph
    try:
        pruned = wrapped.prune([graph.get_tensor_by_name(f"{name}:0") for name in input_names],
                               [graph.get_tensor_by_name(f"{name}:0") for name in output_names])
    except Exception as error:
        fail(f"frozen graph '{model}' cannot be cut to its inputs and outputs: {str(error).splitlines()[0]}")
    input_specs = {name: tf.TensorSpec(graph.get_tensor_by_name(f"{name}:0").shape,
                                       graph.get_tensor_by_name(f"{name}:0").dtype, name=name)
                   for name in input_names}

    def call(named):
        results = pruned(*[named[name] for name in input_names])
        return dict(zip(output_names, results))

    return call, input_specs, output_names, wrapped


def all_nodes(graph_def):
    """Every node of `graph_def` and of its function library."""
    if graph_def is None:
        return []
    nodes = list(graph_def.node)
    for function in graph_def.library.function:
        nodes.extend(function.node_def)
    return nodes


def loaded_function_graph(call, input_specs):
    """The graph (with its function library) of a SavedModel signature, traced once."""
    import tensorflow as tf
    specs = {name: tf.TensorSpec(spec.shape, spec.dtype, name=name) for name, spec in input_specs.items()}
    return tf.function(lambda **named: call(named)).get_concrete_function(**specs).graph.as_graph_def()


def first_informative_line(error):
    """TF's messages for XLA failures may start with "in user code:" and a traceback."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for line in lines:
        if line != "in user code:" and not line.startswith("File "):
            return line
    return lines[0] if lines else type(error).__name__


def compile_model(model, output, batch_sizes, signature="serving_default"):
    """Writes the artifact of `model` (SavedModel directory or frozen GraphDef) for `batch_sizes`."""
    model, output = Path(model), Path(output)
    batch_sizes = sorted(set(batch_sizes))
    if not batch_sizes or batch_sizes[0] < 1:
        fail(f"batch sizes {batch_sizes}: expected positive integers")
    if not model.exists():
        fail(f"'{model}' does not exist")
    saved_model = (model / "saved_model.pb").is_file()
    if model.is_dir() and not saved_model:
        fail(f"'{model}' is a directory without saved_model.pb: expected a SavedModel or a frozen GraphDef file")

    import tensorflow as tf
    from tensorflow.compiler.mlir.stablehlo import stablehlo
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    if saved_model:
        call, input_specs, output_names, keep_alive = saved_model_function(tf, model, signature)
    else:
        signature = "serving_default"
        call, input_specs, output_names, keep_alive = frozen_graph_function(tf, model)
    graph_def = loaded_function_graph(call, input_specs) if saved_model else keep_alive.graph.as_graph_def()
    uncompilable = sorted({node.op for node in all_nodes(graph_def) if node.op in NOT_COMPILABLE})
    if uncompilable:
        fail(f"'{model}' uses {', '.join(uncompilable)} (lookup tables), which XLA cannot compile; "
             "run it on the TensorFlow backend")
    input_names = sorted(input_specs)
    inputs = []
    for name in input_names:
        spec = input_specs[name]
        if spec.dtype.name not in DTYPES:
            fail(f"input '{name}' has dtype {spec.dtype.name}; the XLA backend takes {sorted(DTYPES)}")
        if spec.shape.rank is None or spec.shape.rank < 1 or None in spec.shape.as_list()[1:]:
            fail(f"input '{name}' has shape {spec.shape}: every dimension but the first (the batch) must be known")
        inputs.append({"name": name, "dtype": spec.dtype.name, "shape": [-1] + spec.shape.as_list()[1:]})
        if not saved_model:
            inputs[-1]["tensor"] = f"{name}:0"  # runs may name a frozen graph's tensors as the TF backend's do

    output.mkdir(parents=True, exist_ok=True)
    programs, output_shapes = [], {}
    for batch in batch_sizes:
        specs = [tf.TensorSpec([batch] + input_specs[n].shape.as_list()[1:], input_specs[n].dtype, name=n)
                 for n in input_names]

        def positional(*tensors):
            result = call(dict(zip(input_names, tensors)))
            return [result[key] for key in output_names]

        # Functional control flow (While, If) is kept: XLA compiles it, not the TF1 Enter/Exit ops it lowers to.
        frozen = convert_variables_to_constants_v2(
            tf.function(positional, input_signature=specs).get_concrete_function(), lower_control_flow=False)
        compiled = tf.function(lambda *tensors: frozen(*tensors), jit_compile=True, input_signature=specs)
        try:
            text = compiled.experimental_get_compiler_ir(*specs)(stage="stablehlo")
        except Exception as error:  # TF names the op XLA cannot compile
            fail(f"XLA cannot compile '{model}' at batch {batch}: {first_informative_line(error)}")
        program = f"b{batch}.mlirbc"
        (output / program).write_bytes(stablehlo.serialize_portable_artifact_str(text, STABLEHLO_TARGET))
        programs.append({"batch": batch, "file": program, "format": "mlir"})
        # Shapes from a run on zeros: a graph with loops may not know them statically.
        results = compiled(*[tf.zeros(spec.shape, spec.dtype) for spec in specs])
        for key, tensor in zip(output_names, results):
            output_shapes.setdefault(key, []).append((batch, tensor.shape.as_list(), tensor.dtype.name))

    outputs = []
    for key in output_names:
        shapes = output_shapes[key]
        dtype = shapes[0][2]
        if dtype not in DTYPES:
            fail(f"output '{key}' has dtype {dtype}; the XLA backend returns {sorted(DTYPES)}")
        if any(len(shape) < 1 or shape[0] != batch for batch, shape, _ in shapes):
            fail(f"output '{key}' does not have one row per input row; the XLA backend pads and splits batches")
        outputs.append({"name": key, "dtype": dtype, "shape": [-1] + shapes[0][1][1:]})
        if not saved_model:
            outputs[-1]["tensor"] = f"{key}:0"

    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "source": {"path": str(model.resolve()), "sha256": model_hash(model)},
        "tensorflow": tf.__version__,
        "signature": signature,
        "inputs": inputs,
        "outputs": outputs,
        "stablehlo_version": STABLEHLO_TARGET,
        "weights": "baked into each program",
        "programs": programs,
    }
    (output / "manifest.json").write_text(json.dumps(manifest, indent=2))
    del keep_alive


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("output")
    parser.add_argument("--batch-sizes", default="1,8,64")
    parser.add_argument("--signature", default="serving_default")
    args = parser.parse_args()
    try:
        batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    except ValueError:
        print(f"compile_xla: --batch-sizes '{args.batch_sizes}': expected positive integers separated by commas",
              file=sys.stderr)
        sys.exit(2)
    try:
        compile_model(args.model, args.output, batch_sizes, args.signature)
    except CompileError as error:
        print(f"compile_xla: {error}", file=sys.stderr)
        sys.exit(2)
    print(f"compile_xla: {args.model} -> {args.output} (batch sizes {sorted(set(batch_sizes))})")


if __name__ == "__main__":
    main()
