"""Frozen graphs with TF1 loops (Enter, Exit, Merge, Switch, NextIteration, LoopCond: what freezing
a Keras LSTM produces), compiled through tf2xla as a graph, as tfcompile does. tf2xla turns the
loops into XLA while loops (its control-flow functionalization); tracing the graph as a
tf.function, the path every other model takes, cannot (XLA has no kernel for Enter).

- write_tfcompile_inputs(source, batch, work): the GraphDef and the tf2xla config of one batch
  size, which compile_aot.py compiles as it compiles any model's;
- hlo_modules(source, batch_sizes, matmul_precision): {batch: HloModuleProto bytes} for
  compile_xla.py, from XLA's dump of the same compilation before its optimisations. The
  compilation runs in a child process (this file as a script), because XLA reads its dump flags
  once per process.
"""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from model_source import fail, xla_failure_reason

# What the child prints before the reason it could not compile.
CHILD_MARKER = "tf1_control_flow: "


def write_tfcompile_inputs(source, batch, work):
    """Writes work/b<batch>.graph.pb (the frozen graph as read) and work/b<batch>.config.pbtxt
    (its inputs fed at `batch` rows, its outputs fetched, in the signature's order)."""
    from tensorflow.compiler.tf2xla import tf2xla_pb2

    def tensor_id(tensor_name):
        node, _, index = tensor_name.rpartition(":")
        return tf2xla_pb2.TensorId(node_name=node, output_index=int(index))

    config = tf2xla_pb2.Config()
    for position, spec in enumerate(source.batch_specs(batch)):
        config.feed.append(tf2xla_pb2.Feed(id=tensor_id(source.input_tensors[spec.name]), name=f"input{position}",
                                           type=spec.dtype.as_datatype_enum, shape=spec.shape.as_proto()))
    for position, name in enumerate(source.output_names):
        config.fetch.append(tf2xla_pb2.Fetch(id=tensor_id(source.output_tensors[name]), name=f"output{position}"))
    (work / f"b{batch}.graph.pb").write_bytes(source.graph_def.SerializeToString())
    (work / f"b{batch}.config.pbtxt").write_text(str(config))


def hlo_modules(source, batch_sizes, matmul_precision):
    """{batch: serialized HloModuleProto} of the frozen graph `source` at each batch size. Products
    keep float32 precision on GPUs unless `matmul_precision` is "default" (TF32 allowed)."""
    from tensorflow.compiler.xla.service import hlo_pb2

    work = Path(tempfile.mkdtemp(prefix="hepinfer-tf1-"))
    try:
        for batch in batch_sizes:
            write_tfcompile_inputs(source, batch, work)
        dump = work / "dump"
        flags = (f"{os.environ.get('XLA_FLAGS', '')} --xla_dump_to={dump} --xla_dump_hlo_as_proto "
                 "--xla_dump_hlo_pass_re=^$ --xla_cpu_multi_thread_eigen=false "
                 "--xla_cpu_experimental_ynn_fusion_type=")
        child = subprocess.run([sys.executable, __file__, str(work), matmul_precision] + [str(b) for b in batch_sizes],
                               env=dict(os.environ, XLA_FLAGS=flags.strip(), TF_CPP_MIN_LOG_LEVEL="3"),
                               capture_output=True, text=True)
        if child.returncode != 0:
            reason = child.stderr.rpartition(CHILD_MARKER)[2].strip() or f"exit status {child.returncode}"
            fail(f"XLA cannot compile '{source.path}' (a frozen graph with TF1 loops, through tf2xla): "
                 f"{reason.splitlines()[0]}")
        modules = {}
        for batch in batch_sizes:
            dumped = sorted(dump.glob(f"*hepinfer_aot__b{batch}.before_optimizations.hlo.pb"))
            if len(dumped) != 1:
                fail(f"'{source.path}' at batch {batch}: tf2xla compiled it, but XLA's dump holds "
                     f"{len(dumped)} modules of it, expected 1")
            proto = hlo_pb2.HloProto()
            proto.ParseFromString(dumped[0].read_bytes())
            modules[batch] = proto.hlo_module.SerializeToString()
        return modules
    finally:
        shutil.rmtree(work, ignore_errors=True)


def compile_in_child():
    """The child of hlo_modules: tfcompile of each batch size's graph in WORK, for XLA's dump."""
    work, matmul_precision, batch_sizes = Path(sys.argv[1]), sys.argv[2], [int(b) for b in sys.argv[3:]]
    import tensorflow as tf
    from tensorflow.python import _pywrap_tfcompile

    import compile_aot  # not at the top: compile_aot imports this module
    # tf2xla writes each product's precision from TF's TF32 switch, as the traced path does.
    tf.config.experimental.enable_tensor_float_32_execution(matmul_precision == "default")
    objects = work / "objects"
    objects.mkdir()
    for batch in batch_sizes:
        try:
            _pywrap_tfcompile.Compile(**compile_aot.compile_arguments(work, batch, "x86-64-v2", objects))
        except Exception as error:  # tf2xla names the op XLA cannot compile
            print(f"{CHILD_MARKER}{xla_failure_reason(error)}", file=sys.stderr)
            sys.exit(2)


if __name__ == "__main__":
    compile_in_child()  # Python puts this file's folder first on sys.path, where model_source is
