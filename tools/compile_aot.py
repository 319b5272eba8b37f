#!/usr/bin/env python3
"""Compiles a TensorFlow model ahead of time (XLA AOT, tfcompile, as CMSSW's TFAOT) into a package
for hepinfer's AOT backend (src/aot): plain functions that run on the caller's thread.

The model is read as tools/model_source.py says (a SavedModel signature or a frozen GraphDef). For
every batch size N the signature is traced at N rows, its variables frozen into constants, and
compiled by XLA for the target CPU into an object file and a C++ class (tfcompile needs static
shapes: one function per batch size). A generated wrapper puts the classes behind the C table of
src/aot/package_abi.h, and the system compiler links wrapper, objects and XLA's AOT runtime
(tools/aot_runtime.py, built once per machine) into one shared library.

The package is a directory (written whole or not at all, tools/staged_output.py):
  manifest.json   format, source model and its hash, TensorFlow's version, signature, inputs and
                  outputs (dtype, shape with -1 for the batch), batch sizes, the library (file,
                  bytes), the target (CPU level and the CPU features it needs), the package id
  model.so        the library; it embeds the same interface and package id, which the backend
                  checks against the manifest
  model.<level>.so  with several levels (--target-cpu x86-64-v3,x86-64-v4): the same functions
                  compiled for each higher level, listed as the manifest's "variants"; the backend
                  opens the highest one whose CPU features the machine has, else model.so

Weights are baked into each batch size's function as constants (one copy per batch size).

Usage: compile_aot.py MODEL OUTPUT_DIR [--batch-sizes 1,8,64] [--signature KEY]
                      [--target-cpu LEVEL[,LEVEL...]] [--cxx g++] [--tune]
                      [--input-shape NAME=D1,D2,... ...]  (dimensions the signature leaves unknown)
  (levels: x86-64-v2, x86-64-v3 (default), x86-64-v4, native)
Exit status 2 with one line on stderr ("compile_aot: ...") for a model it cannot compile.
"""
import argparse
import json
import os
import platform
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).parent))
from model_source import (CompileError, ModelSource, fail, parse_batch_sizes, xla_failure_reason,  # noqa: E402,F401
                          parse_input_shapes)
import aot_constants  # noqa: E402
import aot_runtime  # noqa: E402
from staged_output import check_replaceable, staged_directory  # noqa: E402
import aot_tuning  # noqa: E402
import tf1_control_flow  # noqa: E402

FORMAT = "hepinfer-aot"
FORMAT_VERSION = 1
LIBRARY = "model.so"
# The x86-64 micro-architecture levels (psABI), as the CPU feature names Linux's /proc/cpuinfo uses;
# a package needs every feature of its level and refuses to load without them.
CPU_LEVELS = {"x86-64-v2": ["cx16", "lahf_lm", "popcnt", "pni", "sse4_1", "sse4_2", "ssse3"]}
CPU_LEVELS["x86-64-v3"] = CPU_LEVELS["x86-64-v2"] + ["abm", "avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "movbe",
                                                     "xsave"]
CPU_LEVELS["x86-64-v4"] = CPU_LEVELS["x86-64-v3"] + ["avx512bw", "avx512cd", "avx512dq", "avx512f", "avx512vl"]
DEFAULT_CPU_LEVEL = "x86-64-v3"
ABI_HEADER = "package_abi.h"


def host_cpu_features():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def resolve_cpu_level(target_cpu):
    """(level, features): `native` is the highest level this machine has."""
    if platform.machine() != "x86_64":
        fail(f"AOT packages are built for x86-64 hosts; this one is {platform.machine()}")
    if target_cpu == "native":
        host = host_cpu_features()
        for level in ("x86-64-v4", "x86-64-v3", "x86-64-v2"):
            if set(CPU_LEVELS[level]) <= host:
                return level, CPU_LEVELS[level]
        fail("this CPU lacks x86-64-v2 features; AOT packages need at least x86-64-v2")
    if target_cpu not in CPU_LEVELS:
        fail(f"--target-cpu '{target_cpu}': expected one of {sorted(CPU_LEVELS)} or native")
    return target_cpu, CPU_LEVELS[target_cpu]


def resolve_cpu_levels(target_cpus):
    """[(level, features)] for a comma-separated list of levels, lowest first: the first is the
    package's baseline library, each further level a variant the loader picks where the CPU has it."""
    levels = {}
    for name in target_cpus.split(","):
        if not name.strip():
            fail(f"--target-cpu '{target_cpus}': expected levels separated by commas")
        level, features = resolve_cpu_level(name.strip())
        levels[level] = features
    return sorted(levels.items(), key=lambda item: list(CPU_LEVELS).index(item[0]))


def library_name(level, baseline):
    return LIBRARY if level == baseline else f"model.{level}.so"


def compile_arguments(work, batch, level, out):
    """_pywrap_tfcompile.Compile's keywords for the graph and config that tfcompile() wrote to
    `work`, writing the function's files to `out`/b<batch>*."""
    prefix = out / f"b{batch}"
    return dict(graph=str(work / f"b{batch}.graph.pb"), config=str(work / f"b{batch}.config.pbtxt"),
                target_triple="x86_64-pc-linux", target_cpu=level, target_features="",
                entry_point=f"hepinfer_aot_entry_b{batch}", cpp_class=f"hepinfer_aot::b{batch}",
                out_function_object=f"{prefix}.o", out_header=f"{prefix}.h", out_metadata_object=f"{prefix}_metadata.o",
                out_constant_buffers_object=f"{prefix}_constants.o", gen_name_to_index=False, gen_program_shape=False)


FUNCTION_FILES = (".o", ".h", "_metadata.o", "_constants.o")


def tfcompile(source, batch, frozen, work, level):
    """XLA-compiles `frozen` (the model at `batch` rows; None for a frozen graph with TF1 loops, which
    goes to tf2xla as read) to work/b<batch>{.o,.h,_constants.o}."""
    from tensorflow.python import _pywrap_tfcompile

    if frozen is None:
        tf1_control_flow.write_tfcompile_inputs(source, batch, work)
    else:
        write_traced_tfcompile_inputs(source, batch, frozen, work)
    try:
        _pywrap_tfcompile.Compile(**compile_arguments(work, batch, level, work))
    except Exception as error:  # tfcompile names the op XLA cannot compile
        if frozen is None and "F16 has no equivalent in C++" in str(error):
            # Traced functions carry float16 across as uint16 bits; a graph tf2xla reads as it is cannot.
            fail(f"'{source.path}' has TF1 loops and float16 inputs or outputs, which tfcompile cannot take "
                 "together; give the AOT compiler the model's SavedModel")
        fail(f"XLA cannot compile '{source.path}' at batch {batch}: {xla_failure_reason(error, ahead_of_time=True)}")


def write_traced_tfcompile_inputs(source, batch, frozen, work):
    """work/b<batch>.graph.pb and .config.pbtxt of the frozen function `frozen`."""
    from tensorflow.compiler.tf2xla import tf2xla_pb2

    config = tf2xla_pb2.Config()
    for position, tensor in enumerate(frozen.inputs):
        config.feed.append(tf2xla_pb2.Feed(id=tf2xla_pb2.TensorId(node_name=tensor.op.name,
                                                                  output_index=tensor.value_index),
                                           name=f"input{position}", type=tensor.dtype.as_datatype_enum,
                                           shape=tensor.shape.as_proto()))
    for position, tensor in enumerate(frozen.outputs):
        config.fetch.append(tf2xla_pb2.Fetch(id=tf2xla_pb2.TensorId(node_name=tensor.op.name,
                                                                    output_index=tensor.value_index),
                                             name=f"output{position}", type=tensor.dtype.as_datatype_enum,
                                             shape=tensor.shape.as_proto()))
    if len(config.feed) != len(source.input_names) or len(config.fetch) != len(source.output_names):
        fail(f"'{source.path}' at batch {batch}: the frozen function has {len(config.feed)} inputs and "
             f"{len(config.fetch)} outputs, the signature {len(source.input_names)} and {len(source.output_names)}")
    (work / f"b{batch}.graph.pb").write_bytes(frozen.graph.as_graph_def().SerializeToString())
    (work / f"b{batch}.config.pbtxt").write_text(str(config))


def wrapper_source(batch_sizes, num_inputs, num_outputs, description):
    """The C++ behind package_abi.h's table, over the tfcompile classes hepinfer_aot::b<N>."""
    includes = "\n".join(f'#include "b{batch}.h"' for batch in batch_sizes)
    creators = "\n".join(
        f"    case {index}: return new hepinfer_aot::b{batch}(Function::AllocMode::RESULTS_PROFILES_AND_TEMPS_ONLY);"
        for index, batch in enumerate(batch_sizes))
    sizes = ", ".join(f"{batch}" for batch in batch_sizes)
    return f"""// Generated by hepinfer's tools/compile_aot.py: the package's side of src/aot/package_abi.h.
#include <new>
#include <string>

{includes}
#include "{ABI_HEADER}"

namespace {{

using Function = tensorflow::XlaCompiledCpuFunction;

struct Instance {{
  Function* function = nullptr;
  std::string error;
}};

constexpr int64_t kBatchSizes[] = {{{sizes}}};
constexpr char kDescription[] = R"hepinfer_json({description})hepinfer_json";

Function* create_function(int32_t batch_index) {{
  switch (batch_index) {{
{creators}
    default: return nullptr;
  }}
}}

int64_t input_bytes(const void* opaque, int32_t i) {{
  const Function* function = static_cast<const Instance*>(opaque)->function;
  return i >= 0 && i < function->num_args() ? function->arg_size(i) : -1;
}}

int64_t output_bytes(const void* opaque, int32_t i) {{
  const Function* function = static_cast<const Instance*>(opaque)->function;
  return i >= 0 && i < function->num_results() ? function->result_size(i) : -1;
}}

void* create(int32_t batch_index) {{
  try {{
    auto* instance = new Instance;
    instance->function = create_function(batch_index);
    if (instance->function == nullptr) {{
      delete instance;
      return nullptr;
    }}
    return instance;
  }} catch (...) {{
    return nullptr;
  }}
}}

void destroy(void* opaque) {{
  auto* instance = static_cast<Instance*>(opaque);
  if (instance == nullptr) return;
  delete instance->function;
  delete instance;
}}

void set_input(void* opaque, int32_t i, const void* data) {{ static_cast<Instance*>(opaque)->function->set_arg_data(i, data); }}

int32_t run(void* opaque) {{
  auto* instance = static_cast<Instance*>(opaque);
  try {{
    if (instance->function->Run()) return 1;
    instance->error = instance->function->error_msg();
  }} catch (const std::exception& error) {{
    instance->error = error.what();
  }} catch (...) {{
    instance->error = "unknown exception";
  }}
  if (instance->error.empty()) instance->error = "the compiled function failed without a message";
  return 0;
}}

const char* error(void* opaque) {{ return static_cast<Instance*>(opaque)->error.c_str(); }}

const void* output(void* opaque, int32_t i) {{ return static_cast<Instance*>(opaque)->function->result_data(i); }}

constexpr HepinferAotPackage kPackage = {{
    HEPINFER_AOT_ABI_VERSION, kDescription, {len(batch_sizes)}, kBatchSizes, {num_inputs}, {num_outputs},
    create, destroy, input_bytes, output_bytes, set_input, run, error, output}};

}}  // namespace

extern "C" __attribute__((visibility("default"))) const HepinferAotPackage* hepinfer_aot_package_v1(void) {{
  return &kPackage;
}}
"""


def find_abi_header():
    """package_abi.h: next to this script when installed or copied to a build tree, else in src/aot."""
    here = Path(__file__).resolve().parent
    for candidate in (here / ABI_HEADER, here.parent / "src" / "aot" / ABI_HEADER):
        if candidate.is_file():
            return candidate
    fail(f"cannot find {ABI_HEADER} next to {__file__} or in the source tree")


def link_library(work, library, batch_sizes, level, cxx, runtime, log):
    tf_directory = aot_runtime.tensorflow_directory()
    objects = [str(path) for batch in batch_sizes
               for path in (work / f"b{batch}.o", aot_constants.compact(work / f"b{batch}_constants.o", cxx, log))]
    common = ["-I", str(runtime.common_header.parent), "-include", runtime.common_header.name] \
        if runtime.common_header else []

    # The entry point is all a package exports: every package's kernels and constants have the same
    # names (tfcompile names them by class), which must not meet in the dynamic symbol table.
    exports = work / "exports.map"
    exports.write_text("{ global: hepinfer_aot_package_v1; local: *; };\n")

    def link(libraries):
        command = [cxx, *aot_runtime.wrapper_flags(level), *common, "-shared", "-I", str(work),
                   str(work / "wrapper.cc"), *objects, *map(str, libraries),
                   # XLA's runtime stays private to the package (the TF in a TF process has its own copy);
                   # abseil comes from TensorFlow's framework library, whose lts_20250814 the headers name.
                   "-Wl,--exclude-libs,ALL", "-Wl,-Bsymbolic", "-Wl,--no-undefined", "-Wl,-z,now",
                   f"-Wl,--version-script,{exports}",
                   f"-L{tf_directory}", "-l:libtensorflow_framework.so.2", f"-Wl,-rpath,{tf_directory}",
                   "-o", str(library)]
        return subprocess.run(command, capture_output=True, text=True)

    log(f"linking {library}")
    result = link([runtime.library])
    if result.returncode != 0 and "undefined reference" in result.stderr:
        # A function of the runtime's rest (e.g. a half-precision matrix product): build it, link again.
        result = link([runtime.library, runtime.extra_library()])
    if result.returncode != 0:
        fail(f"linking the package library failed: {link_error(result.stderr or result.stdout)}")


def link_error(output):
    """What a failed link lacked or said: the symbols it found no definition for (ld names them on
    lines without 'error'; its closing 'collect2: error' line says only that it failed), else
    its first error line."""
    missing = list(dict.fromkeys(re.findall(r"undefined reference to [`']([^'`]+)'", output)))
    if missing:
        return f"no definition of {', '.join(missing)} (a function the compiled code calls that this runtime lacks)"
    lines = [line.strip() for line in output.splitlines() if "error" in line.lower()]
    return (lines or [line.strip() for line in output.splitlines() if line.strip()] or ["no message"])[0]


def tune(batch, level, features, work, num_inputs, num_outputs, cxx, runtime, log):
    """Compiles aot_tuning's candidates for `batch` at `level` (XLA's default is already in
    work/level), times each on this machine, and leaves the fastest's files in work/level.
    Returns what the manifest records: the choice and every candidate's median."""
    base = work / level
    candidates = aot_tuning.candidates_for(features)
    timed = []
    for index, (name, flags) in enumerate(candidates):
        directory = base / "tuning" / f"b{batch}-{index}"
        directory.mkdir(parents=True)
        if index == 0:
            for suffix in FUNCTION_FILES:
                shutil.copy(base / f"b{batch}{suffix}", directory)
        else:
            error = aot_tuning.compile_in_child(compile_arguments(base, batch, level, directory), flags)
            if error is not None:
                log(f"tuning batch {batch} for {level}: '{name}' not compiled ({error})")
                continue
        shutil.copy(find_abi_header(), directory / ABI_HEADER)
        (directory / "wrapper.cc").write_text(wrapper_source([batch], num_inputs, num_outputs, "{}"))
        try:
            link_library(directory, directory / LIBRARY, [batch], level, cxx, runtime, lambda message: None)
        except CompileError as error:
            if index == 0:
                raise
            log(f"tuning batch {batch} for {level}: '{name}' not linked ({error})")
            continue
        timed.append((name, directory))
    try:
        medians = aot_tuning.time_libraries([directory / LIBRARY for _, directory in timed], aot_tuning.SECONDS)
    except RuntimeError as error:
        fail(f"tuning batch {batch} for {level}: timing the compiled functions failed: {error}")
    best = min(range(len(timed)), key=medians.__getitem__)
    if medians[best] > medians[0] * (1 - aot_tuning.MIN_GAIN):
        best = 0
    if best != 0:
        for suffix in FUNCTION_FILES:
            shutil.copy(timed[best][1] / f"b{batch}{suffix}", base)
    choice = timed[best][0]
    log(f"tuned batch {batch} for {level}: " +
        ", ".join(f"{name} {median:.1f} µs" for (name, _), median in zip(timed, medians)) + f" -> {choice}")
    return {"chosen": choice, "median_us": {name: median for (name, _), median in zip(timed, medians)}}


def compile_model(model, output, batch_sizes, signature="serving_default", target_cpu=DEFAULT_CPU_LEVEL, cxx=None,
                  log=lambda message: None, linker=None, tuned=False, input_shapes=None):
    """Writes the AOT package of `model` (SavedModel directory or frozen GraphDef) for `batch_sizes`
    (None: the default, or the batch the signature fixes) and returns its manifest. `target_cpu`
    is one level or several separated by commas: the lowest is the baseline library (model.so),
    each higher one a variant (model.<level>.so) that the loader takes on CPUs that have its
    features. With `linker` (a concurrent.futures executor) the
    C++ compile and link run there and a future of the manifest is returned, so that the next
    model's XLA compilation overlaps them. With `tuned`, each batch size of each level this CPU
    can run is compiled with aot_tuning's candidates and the fastest here is kept."""
    started = time.monotonic()
    output = Path(output)
    if batch_sizes is not None and (not batch_sizes or min(batch_sizes) < 1):
        fail(f"batch sizes {batch_sizes}: expected positive integers")
    cxx = cxx or os.environ.get("CXX") or "g++"
    levels = resolve_cpu_levels(target_cpu)
    baseline = levels[0][0]
    # One thread: the caller's. YNNPACK fusions would need a runtime the wheel does not ship. Min
    # and max propagate NaN as TF's do (XLA's CPU default lets a reduce_max skip a NaN). A flag the
    # caller set in XLA_FLAGS is theirs.
    for flag in ("--xla_cpu_multi_thread_eigen=false", "--xla_cpu_experimental_ynn_fusion_type=",
                 "--xla_cpu_enable_fast_min_max=false"):
        if flag.split("=")[0] + "=" not in os.environ.get("XLA_FLAGS", ""):
            os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()
    check_replaceable(output, FORMAT)  # before the long part
    source = ModelSource(model, signature, input_shapes)
    batch_sizes = source.batch_sizes(batch_sizes)
    source.check_rows_independent("AOT")
    tf = source.tf
    inputs = source.inputs_manifest("AOT")
    runtimes = {level: aot_runtime.ensure_runtime(level, cxx, log) for level, _ in levels}
    work = Path(tempfile.mkdtemp(prefix="hepinfer-aot-"))
    try:
        shapes_by_batch = {}
        for batch in batch_sizes:
            frozen = None if source.tf1_loops else source.frozen_function(batch, half_as_bits=True)
            for level, _ in levels:
                log(f"compiling batch {batch}" + (f" for {level}" if len(levels) > 1 else ""))
                (work / level).mkdir(exist_ok=True)
                tfcompile(source, batch, frozen, work / level, level)
            shapes_by_batch[batch] = source.output_shapes(batch)
        outputs = source.outputs_manifest(shapes_by_batch, "AOT")
        tuning = {}
        if tuned:
            host = host_cpu_features()
            for level, features in levels:
                missing = sorted(set(features) - host)
                if missing:
                    tuning[level] = {"skipped": f"this CPU lacks {', '.join(missing)}: cannot time {level} code"}
                    log(f"not tuning {level}: this CPU lacks {', '.join(missing)}")
                    continue
                tuning[level] = {str(batch): tune(batch, level, features, work, len(inputs), len(outputs), cxx,
                                                  runtimes[level], log)
                                 for batch in batch_sizes}
        package_id = secrets.token_hex(16)
        for level, features in levels:
            # Each library describes itself with its own CPU features; the loader compares them with
            # the manifest's entry for the library it opens.
            interface = {"package_id": package_id, "batch_sizes": batch_sizes, "cpu_features": features,
                         "inputs": [{k: v for k, v in tensor.items() if k != "tensor"} for tensor in inputs],
                         "outputs": [{k: v for k, v in tensor.items() if k != "tensor"} for tensor in outputs]}
            shutil.copy(find_abi_header(), work / level / ABI_HEADER)
            (work / level / "wrapper.cc").write_text(
                wrapper_source(batch_sizes, len(inputs), len(outputs), json.dumps(interface, separators=(",", ":"))))
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "source": source.source_manifest(),
            "tensorflow": tf.__version__,
            "signature": source.signature,
            "inputs": inputs,
            "outputs": outputs,
            "batch_sizes": batch_sizes,
            "library": {"file": LIBRARY, "bytes": 0, "abi_version": 1},
            "package_id": package_id,
            "target": {"cpu": baseline, "cpu_features": levels[0][1]},
            "compiler": aot_runtime.compiler_identity(cxx),
            "weights": "baked into each batch size's function",
        }
        if tuned:
            manifest["tuning"] = tuning
        if len(levels) > 1:
            manifest["variants"] = [
                {"target": {"cpu": level, "cpu_features": features},
                 "library": {"file": library_name(level, baseline), "bytes": 0, "abi_version": 1}}
                for level, features in levels[1:]]
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise

    def link_and_write():
        try:
            with staged_directory(output, FORMAT) as staging:
                for level, _ in levels:
                    link_library(work / level, staging / library_name(level, baseline), batch_sizes, level, cxx,
                                 runtimes[level], log)
                manifest["library"]["bytes"] = (staging / LIBRARY).stat().st_size
                for variant in manifest.get("variants", []):
                    variant["library"]["bytes"] = (staging / variant["library"]["file"]).stat().st_size
                manifest["compile_seconds"] = round(time.monotonic() - started, 2)
                (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return manifest

    return linker.submit(link_and_write) if linker is not None else link_and_write()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("output")
    parser.add_argument("--batch-sizes", default=None,
                        help="e.g. 1,8,64 (the default), or the batch the signature fixes")
    parser.add_argument("--signature", default="serving_default")
    parser.add_argument("--target-cpu", default=DEFAULT_CPU_LEVEL,
                        help="a CPU level (x86-64-v2|x86-64-v3|x86-64-v4|native) or several separated by commas: "
                             "the lowest is the baseline, each higher one a variant taken where the CPU has it")
    parser.add_argument("--cxx", default=None)
    parser.add_argument("--tune", action="store_true",
                        help="compile each batch size with several of XLA's code-generation choices, time them on "
                             "this machine and keep the fastest (levels this CPU cannot run keep XLA's default)")
    parser.add_argument("--input-shape", action="append", default=[],
                        help="NAME=D1,D2,...: an input's dimensions after the batch, where the signature leaves them "
                             "unknown")
    args = parser.parse_args()
    try:
        batch_sizes = parse_batch_sizes(args.batch_sizes) if args.batch_sizes is not None else None
        manifest = compile_model(args.model, args.output, batch_sizes, args.signature, args.target_cpu, args.cxx,
                                 log=lambda message: print(f"compile_aot: {message}", flush=True), tuned=args.tune,
                                 input_shapes=parse_input_shapes(args.input_shape))
    except CompileError as error:
        print(f"compile_aot: {error}", file=sys.stderr)
        sys.exit(2)
    levels = [manifest["target"]["cpu"]] + [variant["target"]["cpu"] for variant in manifest.get("variants", [])]
    megabytes = (manifest["library"]["bytes"] + sum(v["library"]["bytes"] for v in manifest.get("variants", []))) / 1e6
    print(f"compile_aot: {args.model} -> {args.output} (batch sizes {manifest['batch_sizes']}, "
          f"{', '.join(levels)}, {megabytes:.1f} MB, {manifest['compile_seconds']} s)")


if __name__ == "__main__":
    main()
