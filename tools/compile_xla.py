#!/usr/bin/env python3
"""Compiles a TensorFlow model into an XLA artifact for hepinfer's XLA backend (src/xla).

The model is read as tools/model_source.py says (a SavedModel signature or a frozen GraphDef).

The artifact is a directory (written whole or not at all, tools/staged_output.py):
  manifest.json      format, source model and its hash, signature, inputs and outputs (dtype,
                     shape with -1 for the batch; a frozen graph's also its tensor name "x:0"), the compiled batch sizes and their programs
  b<N>.mlirbc        one StableHLO portable artifact per batch size N, weights baked in, written
                     for the oldest StableHLO version that expresses every op of the model
  b<N>.hlo.pb        instead, where no StableHLO version does (TF lowers tf.math.erf to
                     mhlo.erf, which StableHLO lacks), and for frozen graphs with TF1 loops
                     (tools/tf1_control_flow.py): the XLA HloModuleProto, program format "hlo"
                     (read by every PJRT plugin, but not a versioned format)

With --pinned-host-io each "mlir" program also gets a variant for GPUs,
  b<N>.pinned_host_io.mlirbc
                     the same program with its inputs and outputs in the GPU's pinned host
                     memory (tools/host_memory_programs.py): XLA moves them inside the program,
                     and the caller reads the outputs where they lie, where PJRT's own copies
                     cost a small batch's round trip most of its time. A GPU client runs it in
                     place of the plain program; the CPU plugin cannot compile it and runs the
                     plain one. Twice the programs on disk.

Weights (--weights):
  baked              into each program as constants (frozen with convert_variables_to_constants_v2):
                     nothing to feed, at the cost of one copy of the weights per batch size on disk,
                     in the compiled executables and in a GPU's memory, and of TF's freezing (about
                     13 times the weights' bytes at its peak; no tensor over 2 GB)
  parameters         a SavedModel's variables (a frozen graph's floating constants of 4 KiB or
                     more, made variables) in one file, weights.bin, fed to every program as
                     parameters after the inputs (the manifest lists them in that order: name, dtype,
                     shape, offset); the backend puts them on the device once, beside all the
                     programs. Format version 2. XLA cannot fold them into the code, which small
                     models may feel; large ones compile in seconds instead of minutes. Not for
                     frozen graphs with TF1 loops (tf2xla compiles those with their constants)
  auto (default)     parameters above 64 MiB of such weights, else baked

Matrix products and convolutions carry a precision: "highest" (the default here) makes a GPU
compute float32 products in full float32, so results agree with TF on a CPU to ~1e-6; "default"
lets a GPU use TF32 tensor cores (faster for large layers, ~1e-3 relative), as TF and JAX do on
GPUs unless told otherwise. CPUs compute in float32 either way.

Usage: compile_xla.py MODEL OUTPUT_DIR [--batch-sizes 1,8,64] [--signature KEY]
                      [--matmul-precision highest|default] [--input-shape NAME=D1,D2,... ...]
                      [--pinned-host-io] [--weights auto|baked|parameters]
(--signature applies to SavedModels; a frozen graph's one signature is "serving_default")
Exit status 2 with one line on stderr for a model it cannot compile.
"""
import argparse
import contextlib
import json
import math
import os
import re
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).parent))
from model_source import (CompileError, ModelSource, fail, parse_batch_sizes, xla_failure_reason,  # noqa: E402,F401
                          parse_input_shapes, main_argument_types, DTYPES)
from host_memory_programs import in_pinned_host_memory  # noqa: E402
from staged_output import check_replaceable, staged_directory  # noqa: E402
import tf1_control_flow  # noqa: E402

FORMAT = "hepinfer-xla"
FORMAT_VERSION = 1
# Artifacts whose weights are parameters: a hepinfer that reads version 1 only would run their
# programs without the weights, so they say they need a newer reader.
FORMAT_VERSION_WEIGHT_PARAMETERS = 2
WEIGHTS_FILE = "weights.bin"
# Each weight starts at a multiple of this in weights.bin (a cache line; what device copies like).
WEIGHT_ALIGNMENT = 64
# Weights are copied out of TF this many bytes of rows at a time, so a table is not held twice.
WEIGHT_SLICE_BYTES = 64 << 20
# Portable artifacts are written for this StableHLO version, which every PJRT plugin since 2024
# reads (the CPU plugin in the lock speaks 1.13.3, jax-cuda13-pjrt 1.22), or for the oldest later
# version that has every op of the program (stablehlo.tan needs a newer one).
STABLEHLO_TARGET = "1.0.0"
# Ops outside StableHLO, named for the message when a program falls back to an HLO module.
NON_STABLEHLO_OP = re.compile(r"= \"?(mhlo\.[a-z_0-9]+)")
MATMUL_PRECISIONS = ("highest", "default")
# Operand precisions as StableHLO text writes them: `precision = [DEFAULT, DEFAULT]` (dot,
# dot_general) and `#stablehlo<precision DEFAULT>` (convolution).
PRECISION_LIST = re.compile(r"precision = \[[^\]]*\]")


def with_highest_precision(text):
    """`text` with every product's operand precision HIGHEST. TF writes HIGHEST when TF32 is off,
    which compile_model arranges; this catches any op lowered otherwise."""
    text = PRECISION_LIST.sub(lambda match: match.group(0).replace("DEFAULT", "HIGHEST"), text)
    return text.replace("#stablehlo<precision DEFAULT>", "#stablehlo<precision HIGHEST>")


def compile_model(model, output, batch_sizes, signature="serving_default", matmul_precision="highest",
                  input_shapes=None, pinned_host_io=False, weights="auto"):
    """Writes the artifact of `model` (SavedModel directory or frozen GraphDef) for `batch_sizes`
    (None: the default, or the batch the signature fixes) and returns the batch sizes compiled;
    `input_shapes` ({name: dims after the batch}) fixes dimensions the signature leaves unknown;
    `pinned_host_io` adds each program's variant for GPUs; `weights` is the layout (see the
    module's docstring)."""
    output = Path(output)
    if batch_sizes is not None and (not batch_sizes or min(batch_sizes) < 1):
        fail(f"batch sizes {batch_sizes}: expected positive integers")
    if matmul_precision not in MATMUL_PRECISIONS:
        fail(f"matmul precision '{matmul_precision}': expected one of {', '.join(MATMUL_PRECISIONS)}")
    check_replaceable(output, FORMAT)  # before the long part
    source = ModelSource(model, signature, input_shapes)
    if source.choose_weight_layout(weights) == "parameters" and weights == "auto":
        print(f"compile_xla: '{source.path}' has {source.variable_bytes() / 2**20:.0f} MiB of weights, fed to the "
              f"programs as parameters from {WEIGHTS_FILE} (--weights baked to bake them in)")
    batch_sizes = source.batch_sizes(batch_sizes)
    source.check_rows_independent("XLA")
    tf = source.tf
    tf32_was_enabled = tf.config.experimental.tensor_float_32_execution_enabled()
    # TF lowers products with precision DEFAULT while TF32 is allowed, HIGHEST otherwise.
    tf.config.experimental.enable_tensor_float_32_execution(matmul_precision == "default")
    try:
        write_artifact(source, output, batch_sizes, matmul_precision, pinned_host_io)
    finally:
        tf.config.experimental.enable_tensor_float_32_execution(tf32_was_enabled)
    return batch_sizes


def stablehlo_program(source, batch, matmul_precision):
    """The jit-compiled function of `source` at `batch` rows and its StableHLO text (TF32 as the
    caller has set it; products rewritten to HIGHEST for "highest")."""
    tf = source.tf
    specs = source.batch_specs(batch)
    frozen = source.traced_function(batch)
    compiled = tf.function(lambda *tensors: frozen(*tensors), jit_compile=True, input_signature=specs)
    try:
        text = compiled.experimental_get_compiler_ir(*specs)(stage="stablehlo")
    except Exception as error:  # TF names the op XLA cannot compile
        fail(f"XLA cannot compile '{source.path}' at batch {batch}: {xla_failure_reason(error)}")
    if matmul_precision == "highest":
        text = with_highest_precision(text)
    return compiled, text


@contextlib.contextmanager
def mlir_diagnostics_silenced():
    """The serializer prints each refusal's MLIR diagnostics to the process's stderr; the ladder
    below expects refusals, so they go nowhere while it climbs."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def version_key(version):
    return tuple(int(part) for part in version.split("."))


def portable_artifact(text):
    """(bytes, version): `text` as a StableHLO portable artifact for the oldest version from
    STABLEHLO_TARGET up to this TensorFlow's that expresses every op in it (versions only add ops,
    so the search halves the range); None where none does."""
    from tensorflow.compiler.mlir.stablehlo import stablehlo
    current = stablehlo.get_current_version()
    (target_major, target_minor), (major, newest_minor) = version_key(STABLEHLO_TARGET)[:2], version_key(current)[:2]
    candidates = [STABLEHLO_TARGET]
    if major == target_major:
        candidates += [f"{major}.{minor}.0" for minor in range(target_minor + 1, newest_minor + 1)]
    if candidates[-1] != current:
        candidates.append(current)

    def serialized(version):
        try:
            with mlir_diagnostics_silenced():
                return stablehlo.serialize_portable_artifact_str(text, version)
        except ValueError:
            return None

    found, low, high = None, 0, len(candidates) - 1
    while low <= high:
        middle = (low + high) // 2
        program = serialized(candidates[middle])
        if program is None:
            low = middle + 1
        else:
            found, high = (program, candidates[middle]), middle - 1
    return found


def write_artifact(source, output, batch_sizes, matmul_precision, pinned_host_io=False):
    with staged_directory(output, FORMAT) as staging:
        write_artifact_into(source, staging, batch_sizes, matmul_precision, pinned_host_io)


def pinned_host_variant(source, text, batch, version, output, input_count):
    """Writes batch `batch`'s program (StableHLO `text`) with its inputs (its first `input_count`
    parameters: weights stay on the device) and outputs in pinned host memory, as a portable
    artifact of `version`, and returns its manifest entry; None, saying why, where the rewrite
    cannot read the program."""
    from tensorflow.compiler.mlir.stablehlo import stablehlo
    try:
        with mlir_diagnostics_silenced():
            moved = in_pinned_host_memory(text, inputs=True, input_count=input_count)
            program = stablehlo.serialize_portable_artifact_str(moved, version)
    except ValueError as error:
        print(f"compile_xla: batch {batch} of '{source.path}' has no pinned-host variant: {error}")
        return None
    file = f"b{batch}.pinned_host_io.mlirbc"
    (output / file).write_bytes(program)
    return {"file": file, "inputs_in_pinned_host": True}


def traced_programs(source, output, batch_sizes, matmul_precision, pinned_host_io=False):
    """Writes each batch size's program of the model traced as a tf.function (every model but a
    frozen graph with TF1 loops), with `pinned_host_io` its variant for GPUs, and with weights as
    parameters their file; returns the manifest's programs, the outputs' shapes by batch size, the
    StableHLO versions the programs need and the weights' manifest entry (None: baked)."""
    programs, shapes_by_batch, versions, weights = [], {}, [], None
    for batch in batch_sizes:
        specs = source.batch_specs(batch)
        compiled, text = stablehlo_program(source, batch, matmul_precision)
        if source.weights_as_parameters:
            tensors = source.weights_of(compiled.get_concrete_function(*specs))
            check_parameters(source, text, specs, tensors, batch)
            written = weights["tensors"] if weights else []
            if batch == batch_sizes[0]:
                weights = write_weights(tensors, output) if tensors else None  # none: nothing to feed
            elif [entry_of(name, value) for name, value in tensors] != [
                    {key: entry[key] for key in ("name", "dtype", "shape")} for entry in written]:
                fail(f"'{source.path}' captures other variables at batch {batch} than at batch {batch_sizes[0]}; "
                     "compile it with --weights baked")
        portable = portable_artifact(text)
        if portable is not None:
            program, version = f"b{batch}.mlirbc", portable[1]
            (output / program).write_bytes(portable[0])
            programs.append({"batch": batch, "file": program, "format": "mlir"})
            versions.append(version)
            variant = (pinned_host_variant(source, text, batch, version, output, len(specs))
                       if pinned_host_io else None)
            if variant is not None:
                programs[-1]["pinned_host_io"] = variant
        else:
            program = f"b{batch}.hlo.pb"
            (output / program).write_bytes(compiled.experimental_get_compiler_ir(*specs)(stage="hlo_serialized"))
            programs.append({"batch": batch, "file": program, "format": "hlo"})
            outside = sorted(set(NON_STABLEHLO_OP.findall(text)))
            why = f"{', '.join(outside)} has no StableHLO form" if outside else "no StableHLO version expresses it"
            print(f"compile_xla: batch {batch} of '{source.path}' is stored as an XLA HLO module: {why}" +
                  ("; HLO modules get no pinned-host variant" if pinned_host_io else ""))
        shapes_by_batch[batch] = source.output_shapes(batch)
    return programs, shapes_by_batch, versions, weights


def entry_of(name, value):
    """The manifest's entry of weight `value` (a variable or tensor), without its offset."""
    return {"name": name, "dtype": value.dtype.name, "shape": value.shape.as_list()}


def check_parameters(source, text, specs, tensors, batch):
    """Fails unless the lowered program's parameters are the inputs, then `tensors` (name, variable
    or tensor), in type: the order the backend feeds them in."""
    unsupported = sorted({value.dtype.name for _, value in tensors} - DTYPES)  # bfloat16, strings
    if unsupported:
        fail(f"'{source.path}' has variables of dtype {', '.join(unsupported)}, which the XLA backend cannot feed as "
             "parameters; compile it with --weights baked")
    expected = [(spec.dtype.name, spec.shape.as_list()) for spec in specs]
    expected += [(value.dtype.name, value.shape.as_list()) for _, value in tensors]
    found = main_argument_types(text)
    if found != expected:
        fail(f"the program of '{source.path}' at batch {batch} takes parameters {found}, not its inputs and then its "
             f"{len(tensors)} captured variables {expected[len(specs):]}; compile it with --weights baked")


def write_weights(tensors, output):
    """Writes `tensors` (name, variable or tensor) to WEIGHTS_FILE, little-endian and row-major,
    each at a multiple of WEIGHT_ALIGNMENT, and returns the manifest's weights entry. Values are
    copied out of TF a slice of rows at a time (WEIGHT_SLICE_BYTES), so a table of gigabytes is not
    held twice."""
    import numpy as np
    import tensorflow as tf
    entries, offset = [], 0
    with open(output / WEIGHTS_FILE, "wb") as file:
        for name, value in tensors:
            offset += -offset % WEIGHT_ALIGNMENT
            file.seek(offset)
            shape = value.shape.as_list()
            row_bytes = math.prod(shape[1:]) * value.dtype.size if shape else 0
            rows_per_slice = max(1, WEIGHT_SLICE_BYTES // row_bytes) if row_bytes else 0
            # A variable is read once: that shares its buffer, where slicing it would read it whole
            # for every slice (and copy it each time once a run has gathered from it).
            whole = value.read_value() if isinstance(value, tf.Variable) else value
            slices = [whole] if not shape or not rows_per_slice else \
                (whole[start:start + rows_per_slice] for start in range(0, shape[0], rows_per_slice))
            written = 0
            for piece in slices:
                data = np.ascontiguousarray(piece.numpy())
                del piece
                data = data.astype(data.dtype.newbyteorder("<"), copy=False)
                file.write(memoryview(data).cast("B"))
                written += data.nbytes
                del data
            del slices, whole
            entries.append({**entry_of(name, value), "offset": offset})
            offset += written
        file.truncate(offset)
    return {"layout": "parameters", "file": WEIGHTS_FILE, "bytes": offset, "tensors": entries}


def tf1_loop_programs(source, output, batch_sizes, matmul_precision, pinned_host_io=False):
    """traced_programs for a frozen graph with TF1 loops: HLO modules from tf2xla."""
    print(f"compile_xla: '{source.path}' has TF1 loops ({', '.join(source.tf1_loops)}); tf2xla turns them into "
          "XLA loops, stored as XLA HLO modules" + (", which get no pinned-host variant" if pinned_host_io else ""))
    programs, shapes_by_batch = [], {}
    for batch, module in tf1_control_flow.hlo_modules(source, batch_sizes, matmul_precision).items():
        (output / f"b{batch}.hlo.pb").write_bytes(module)
        programs.append({"batch": batch, "file": f"b{batch}.hlo.pb", "format": "hlo"})
        shapes_by_batch[batch] = source.output_shapes(batch)
    return programs, shapes_by_batch, [], None


def write_artifact_into(source, output, batch_sizes, matmul_precision, pinned_host_io=False):
    tf = source.tf
    inputs = source.inputs_manifest("XLA")
    write_programs = tf1_loop_programs if source.tf1_loops else traced_programs
    programs, shapes_by_batch, versions, weights = write_programs(source, output, batch_sizes, matmul_precision,
                                                                  pinned_host_io)

    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION if weights is None else FORMAT_VERSION_WEIGHT_PARAMETERS,
        "source": source.source_manifest(),
        "tensorflow": tf.__version__,
        "signature": source.signature,
        "inputs": inputs,
        "outputs": source.outputs_manifest(shapes_by_batch, "XLA"),
        "stablehlo_version": max([STABLEHLO_TARGET] + versions, key=version_key),
        "matmul_precision": matmul_precision,
        "weights": "baked into each program" if weights is None else weights,
        "programs": programs,
    }
    (output / "manifest.json").write_text(json.dumps(manifest, indent=2))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("output")
    parser.add_argument("--batch-sizes", default=None,
                        help="e.g. 1,8,64 (the default), or the batch the signature fixes")
    parser.add_argument("--signature", default="serving_default")
    parser.add_argument("--matmul-precision", default="highest")
    parser.add_argument("--input-shape", action="append", default=[])
    parser.add_argument("--pinned-host-io", action="store_true",
                        help="also write each program with its inputs and outputs in a GPU's pinned host memory")
    parser.add_argument("--weights", default="auto", help="auto (the default), baked or parameters")
    args = parser.parse_args()
    try:
        batch_sizes = parse_batch_sizes(args.batch_sizes) if args.batch_sizes is not None else None
        compiled = compile_model(args.model, args.output, batch_sizes, args.signature, args.matmul_precision,
                                 parse_input_shapes(args.input_shape), args.pinned_host_io, args.weights)
    except CompileError as error:
        print(f"compile_xla: {error}", file=sys.stderr)
        sys.exit(2)
    print(f"compile_xla: {args.model} -> {args.output} (batch sizes {compiled})")


if __name__ == "__main__":
    main()
