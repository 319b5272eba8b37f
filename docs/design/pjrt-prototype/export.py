"""Export a small Keras MLP (16->64->3, float32, batch 4) from TF 2.21 to
StableHLO / HLO artifacts that a PJRT plugin can compile.

Run with the project venv python (read-only use):
  /work/main/.venv/bin/python /tmp/pjrt_proto/export.py [outdir]

Outputs (in outdir, default ./artifacts):
  frozen.stablehlo.mlir        StableHLO text, weights baked in (1 param: x)
  frozen.stablehlo.mlirbc      stage='stablehlo_serialized' (MLIR bytecode)
  frozen.portable.<ver>.mlirbc portable artifact (VHLO) via serialize_portable_artifact_str
  frozen.hlo.pb                stage='hlo_serialized' (xla.HloModuleProto)
  frozen.hlo.txt               stage='hlo' (text, for reading only)
  captured.stablehlo.mlir      non-frozen: variables become extra params
  x.bin / expected.bin         raw little-endian float32 input [4,16] / output [4,3]
  log.txt                      which API calls worked / failed
"""
import os
import re
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import (
    convert_variables_to_constants_v2,
)

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "artifacts")
os.makedirs(OUT, exist_ok=True)
LOG = []


def log(msg):
    print(msg)
    LOG.append(msg)


def save(name, data):
    mode = "wb" if isinstance(data, (bytes, bytearray)) else "w"
    with open(os.path.join(OUT, name), mode) as f:
        f.write(data)
    log(f"  wrote {name} ({len(data)} {'bytes' if mode == 'wb' else 'chars'})")


def attempt(desc, fn):
    try:
        r = fn()
        log(f"OK   {desc}")
        return r
    except Exception as e:  # record and continue
        log(f"FAIL {desc}: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
        return None


log(f"tensorflow {tf.__version__}")
tf.keras.utils.set_random_seed(1234)
model = tf.keras.Sequential([
    tf.keras.Input(shape=(16,), batch_size=4, dtype="float32"),
    tf.keras.layers.Dense(64, activation="relu"),
    tf.keras.layers.Dense(3, activation="softmax"),
])
# Keras inits biases to zero; make them non-zero so the bias add is tested.
for layer in model.layers:
    layer.bias.assign(np.linspace(-0.5, 0.5, layer.bias.shape[0]).astype(np.float32))
x = np.random.default_rng(0).standard_normal((4, 16)).astype(np.float32)
expected = model(x, training=False).numpy().astype(np.float32)
x.tofile(os.path.join(OUT, "x.bin"))
expected.tofile(os.path.join(OUT, "expected.bin"))
log(f"x {x.shape} expected {expected.shape} row0={expected[0].tolist()}")

spec = tf.TensorSpec([4, 16], tf.float32, name="x")


# ---- 1. Non-frozen: variables are captured inputs ---------------------------
@tf.function(jit_compile=True, input_signature=[spec])
def f_captured(inp):
    return model(inp, training=False)


cf = f_captured.get_concrete_function()
log(f"captured concrete fn: {len(cf.captured_inputs)} captured inputs: "
    + ", ".join(f"{v.shape}" for v in cf.captured_inputs))
# Order of the extra StableHLO params (%arg1..) == cf.captured_inputs order.
handle_to_var = {id(v.handle): v for v in model.variables}
for i, h in enumerate(cf.captured_inputs):
    v = handle_to_var.get(id(h))
    log(f"  param {i + 1}: {v.path if v is not None else '?'} "
        f"{tuple(v.shape) if v is not None else ''}")
    if v is not None:
        v.numpy().astype(np.float32).tofile(os.path.join(OUT, f"captured.param{i + 1}.bin"))
txt = attempt("f_captured.experimental_get_compiler_ir(x)(stage='stablehlo')",
              lambda: f_captured.experimental_get_compiler_ir(x)(stage="stablehlo"))
if txt:
    save("captured.stablehlo.mlir", txt)
# The brief's form: on the ConcreteFunction itself (expected to not exist).
attempt("ConcreteFunction.experimental_get_compiler_ir(x)(stage='stablehlo')",
        lambda: cf.experimental_get_compiler_ir(x)(stage="stablehlo"))

# ---- 2. Frozen: weights baked in as constants -------------------------------
frozen = convert_variables_to_constants_v2(cf)
log(f"frozen: captured_inputs={len(frozen.captured_inputs)} "
    f"inputs={[t.name for t in frozen.inputs]} outputs={[t.name for t in frozen.outputs]}")


@tf.function(jit_compile=True, input_signature=[spec])
def f_frozen(inp):
    out = frozen(inp)
    return out[0] if isinstance(out, (list, tuple)) else out


chk = f_frozen(tf.constant(x)).numpy()
log(f"frozen tf.function max|diff| vs keras = {np.abs(chk - expected).max():.3g}")

ir = lambda stage: f_frozen.experimental_get_compiler_ir(x)(stage=stage)
ir_spec = lambda stage: f_frozen.experimental_get_compiler_ir(spec)(stage=stage)

t = attempt("f_frozen.experimental_get_compiler_ir(x)(stage='stablehlo')",
            lambda: ir("stablehlo"))
if t:
    save("frozen.stablehlo.mlir", t)
attempt("f_frozen.experimental_get_compiler_ir(TensorSpec)(stage='stablehlo')",
        lambda: ir_spec("stablehlo"))
b = attempt("stage='stablehlo_serialized'", lambda: ir("stablehlo_serialized"))
if b:
    save("frozen.stablehlo.mlirbc", b)
b = attempt("stage='hlo_serialized'", lambda: ir("hlo_serialized"))
if b:
    save("frozen.hlo.pb", b)
h = attempt("stage='hlo'", lambda: ir("hlo"))
if h:
    save("frozen.hlo.txt", h)

# ---- 2b. Multiple outputs: dict -> flattened in sorted-key order -------------
@tf.function(jit_compile=True, input_signature=[spec])
def f_multi(inp):
    out = frozen(inp)
    probs = out[0] if isinstance(out, (list, tuple)) else out
    return {"probs": probs, "argmax": tf.argmax(probs, axis=1, output_type=tf.int32)}


log(f"multi: flatten order = {list(tf.nest.flatten({'probs': 0, 'argmax': 1}))} "
    "(0=probs,1=argmax; dict keys sorted)")
m = attempt("f_multi stage='stablehlo'", lambda: f_multi.experimental_get_compiler_ir(x)(stage="stablehlo"))
if m:
    save("multi.stablehlo.mlir", m)
    sig = [l for l in m.splitlines() if "func.func @main" in l][0]
    log("  multi main: " + re.sub(r' ?loc\("[^"]*"\)', "", sig).strip())

# ---- 3. Portable artifact (VHLO bytecode, versioned) ------------------------
try:
    from tensorflow.compiler.mlir.stablehlo import stablehlo as shlo
    log(f"stablehlo api={shlo.get_api_version()} current={shlo.get_current_version()} "
        f"minimum={shlo.get_minimum_version()}")
    if t:
        for ver in [shlo.get_current_version(), "1.0.0"]:
            a = attempt(f"serialize_portable_artifact_str(text, '{ver}')",
                        lambda: shlo.serialize_portable_artifact_str(t, ver))
            if a:
                save(f"frozen.portable.{ver}.mlirbc", a)
        # round-trip check
        a = shlo.serialize_portable_artifact_str(t, shlo.get_current_version())
        attempt("deserialize_portable_artifact_str(artifact)",
                lambda: shlo.deserialize_portable_artifact_str(a))
except ImportError as e:
    log(f"FAIL import tensorflow.compiler.mlir.stablehlo: {e}")

save("log.txt", "\n".join(LOG) + "\n")
