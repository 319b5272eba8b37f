#!/usr/bin/env python3
"""Prepares the XLA part of the GPU validation kit (scripts/gpu_kit.sh), here, where Python
TensorFlow is: the GPU machines have no TensorFlow, so every artifact and every reference output
is made on this side and carried.

Writes into OUTPUT_DIR (the artifacts but mlp_tf32.xla and fanout.xla with their programs'
pinned-host variants up to batch 64, families' at batch 1, `hepinfer compile --pinned-host-io`,
which the GPU runs; bench_xla_gpu also runs the plain programs on the GPU; the kit must stay under
the device tool's 64 MiB with the working tree):
  agreement.json         cases for bench_xla_gpu: artifact, input and reference output .npy files
  families/<name>.xla    every test model family's SavedModel at batch sizes 1 and 4, with
                         references at batch 0, 1, 5 and 67 (tools/make_test_models.py)
  mlp.xla                the MLP test model at batch sizes 1, 8, 64, 512 and 4096 (latency and
                         throughput), with references at 1000 and 5000 rows (padded, split)
  mlp_parameters.xla     the same at batch sizes 1, 64 and 4096 with its weights fed as parameters
                         (--weights parameters: on the GPU once, beside the programs), checked at
                         1000 and 5000 rows; its pinned-host variants leave the weights on the GPU
  mlp_tf32.xla           the same at batch sizes 64 and 4096 compiled with --matmul-precision
                         default (a GPU may use TF32): its speed and its distance from Python TF
  fanout.xla             a model with 4 MiB of output a row, which no compiler can fuse away, at
                         batch sizes 1, 16 and 64 (memory caps: 256 MiB a run at 64 rows; the wide
                         test model's 4 MiB-a-row scratch is fused away by XLA to a few bytes)
  demo/                  the demo job's three models as artifacts, their Python references and a
                         workflow running them (hepinfer run demo/workflow.yaml)
  probes/                the MLP's batch-1 program with its output alone in pinned host memory
                         (tools/host_memory_programs.py), for bench_pjrt_phases: CUDA plugin
                         only, not an artifact (mlp.xla's b1.pinned_host_io.mlirbc is the one
                         with its input there too)

Usage: make_gpu_kit_models.py MODELS_DIR DEMO_MODELS_DIR OUTPUT_DIR
"""
import json
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).parent))
import compile_xla  # noqa: E402
from host_memory_programs import in_pinned_host_memory  # noqa: E402

FAMILY_BATCH_SIZES = (1, 4)
MLP_BATCH_SIZES = (1, 8, 64, 512, 4096)
MLP_TF32_BATCH_SIZES = (64, 4096)
MLP_PARAMETERS_BATCH_SIZES = (1, 64, 4096)
# TF32 keeps 10 bits of mantissa: products are good to ~1e-3 relative.
TF32_TOLERANCE = 5e-3
DEMO_BATCH_SIZES = (1, 16, 128, 1024)
FANOUT_BATCH_SIZES = (1, 16, 64)
FANOUT_WIDTH = 2**20  # float32 outputs a row: 4 MiB

DEMO_WORKFLOW = """# The demo job with its models compiled for the XLA backend (tools/make_gpu_kit_models.py).
# The plan puts the jet tagger and the event classifier on GPUs; each gets a PJRT CUDA client
# capped at its memory. Checked against Python TensorFlow's outputs (reference.json).
policy: spread
headroom_mib: 1024
job: {events: 2000, seed: 12345}
modules:
  - name: jet_tagger
    model: jet_tagger/model.xla
    claim: {gpus: 1, memory_mib: 2048, priority: 2, cpu_fallback: true, typical_batch_size: 64}
    settings: {kind: jet_tagger, mode: async, batching: true, batch_rows: 256, batch_delay_us: 200}
  - name: event_classifier
    model: event_classifier/model.xla
    claim: {gpus: 1, memory_mib: 512, priority: 1, cpu_fallback: true, typical_batch_size: 1}
    settings: {kind: event_classifier, mode: sync}
  - name: particle_flow
    model: particle_flow/model.xla
    claim: {gpus: 0}
    settings: {kind: particle_flow, mode: sync, split_rows: 1024}
"""


def save_fanout(path):
    """x [-1, 8] -> spread [-1, FANOUT_WIDTH]: device memory proportional to the rows that XLA
    cannot fuse away (an output is always materialized), unlike the wide test model's scratch."""
    import tensorflow as tf

    class Fanout(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 8], tf.float32, name="x")])
        def serve(self, x):
            # From the input alone: a constant ramp would be folded into a 4 MiB constant.
            return {"spread": tf.tile(x[:, :1], [1, FANOUT_WIDTH]) * x[:, 1:2]}

    module = Fanout()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})


def keep_pinned_host_variants(artifact, largest_batch):
    """Drops `artifact`'s pinned-host variants of batch sizes above `largest_batch`."""
    manifest_path = artifact / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for program in manifest["programs"]:
        if program["batch"] > largest_batch and "pinned_host_io" in program:
            (artifact / program.pop("pinned_host_io")["file"]).unlink()
    manifest_path.write_text(json.dumps(manifest, indent=2))


def write_host_memory_probe(mlp_path, probes):
    """The MLP at batch 1 with its output in pinned host memory."""
    from tensorflow.compiler.mlir.stablehlo import stablehlo
    source = compile_xla.ModelSource(mlp_path, "serving_default")
    tf32_was_enabled = source.tf.config.experimental.tensor_float_32_execution_enabled()
    source.tf.config.experimental.enable_tensor_float_32_execution(False)
    try:
        _, text = compile_xla.stablehlo_program(source, 1, "highest")
    finally:
        source.tf.config.experimental.enable_tensor_float_32_execution(tf32_was_enabled)
    probes.mkdir(parents=True, exist_ok=True)
    program = in_pinned_host_memory(text, inputs=False)
    (probes / "mlp_b1_host_output.mlirbc").write_bytes(
        stablehlo.serialize_portable_artifact_str(program, compile_xla.STABLEHLO_TARGET))


def main():
    models, demo_models, output = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    if output.exists():
        shutil.rmtree(output)
    (output / "families").mkdir(parents=True)
    (output / "references").mkdir()
    manifest = json.loads((models / "manifest.json").read_text())
    cases = []

    def reference_file(source):
        target = output / "references" / source.relative_to(models).as_posix().replace("/", "_")
        shutil.copyfile(source, target)
        return target.relative_to(output).as_posix()

    for model in manifest["models"]:
        if "saved_model" not in model["formats"]:
            continue
        name, saved = model["name"], model["formats"]["saved_model"]
        artifact = f"families/{name}.xla"
        try:
            compile_xla.compile_model(models / saved["path"], output / artifact, FAMILY_BATCH_SIZES,
                                      pinned_host_io=True)
            keep_pinned_host_variants(output / artifact, 1)
        except compile_xla.CompileError as error:  # e.g. lookup tables, which XLA cannot compile
            print(f"make_gpu_kit_models: {name} skipped: {error}", file=sys.stderr)
            continue
        for case in model["cases"]:
            cases.append({
                "name": f"{name} batch {case['batch']}",
                "artifact": artifact,
                "inputs": {saved["inputs"][k]: reference_file(models / f) for k, f in case["inputs"].items()},
                "outputs": {saved["outputs"][k]: reference_file(models / f) for k, f in case["outputs"].items()},
                "tolerance": max(model["tolerance"], 2e-5) if model["tolerance"] > 0 else 0.0,
            })

    import numpy as np
    import tensorflow as tf
    mlp = next(m for m in manifest["models"] if m["name"] == "mlp")
    mlp_path = models / mlp["formats"]["saved_model"]["path"]
    mlp_in, mlp_out = mlp["formats"]["saved_model"]["inputs"]["x"], mlp["formats"]["saved_model"]["outputs"]["prob"]
    compile_xla.compile_model(mlp_path, output / "mlp.xla", MLP_BATCH_SIZES, pinned_host_io=True)
    keep_pinned_host_variants(output / "mlp.xla", 64)
    compile_xla.compile_model(mlp_path, output / "mlp_tf32.xla", MLP_TF32_BATCH_SIZES, matmul_precision="default")
    compile_xla.compile_model(mlp_path, output / "mlp_parameters.xla", MLP_PARAMETERS_BATCH_SIZES, pinned_host_io=True,
                              weights="parameters")
    keep_pinned_host_variants(output / "mlp_parameters.xla", 64)
    serve = tf.saved_model.load(str(mlp_path)).signatures["serving_default"]
    rng = np.random.default_rng(2026)
    for rows in (1000, 5000):
        x = rng.normal(size=(rows, 32)).astype(np.float32)
        prob = serve(**{mlp_in: tf.constant(x)})[mlp_out].numpy()
        np.save(output / "references" / f"mlp_large_x_{rows}.npy", x)
        np.save(output / "references" / f"mlp_large_prob_{rows}.npy", prob)
        for artifact, how in (("mlp.xla", ""), ("mlp_parameters.xla", ", weights as parameters")):
            cases.append({"name": f"mlp batch {rows}{how}", "artifact": artifact,
                          "inputs": {mlp_in: f"references/mlp_large_x_{rows}.npy"},
                          "outputs": {mlp_out: f"references/mlp_large_prob_{rows}.npy"}, "tolerance": 2e-5})
    cases.append({"name": "mlp batch 5000, TF32 allowed", "artifact": "mlp_tf32.xla",
                  "inputs": {mlp_in: "references/mlp_large_x_5000.npy"},
                  "outputs": {mlp_out: "references/mlp_large_prob_5000.npy"}, "tolerance": TF32_TOLERANCE})
    # NaN and infinities, which the GPU plugin must propagate as TF does (its default, unlike the CPU's).
    non_finite = models / manifest["special"]["non_finite"]
    compile_xla.compile_model(non_finite / "saved_model", output / "non_finite.xla", FAMILY_BATCH_SIZES,
                              pinned_host_io=True)
    cases.append({"name": "non_finite (NaN, inf) batch 6", "artifact": "non_finite.xla",
                  "inputs": {"x": reference_file(non_finite / "input.npy")},
                  "outputs": {file.stem[len("reference_"):]: reference_file(file)
                              for file in sorted(non_finite.glob("reference_*.npy"))},
                  "tolerance": 2e-5})
    write_host_memory_probe(mlp_path, output / "probes")
    fanout_source = output / "fanout_saved_model"
    save_fanout(fanout_source)
    compile_xla.compile_model(fanout_source, output / "fanout.xla", FANOUT_BATCH_SIZES)
    shutil.rmtree(fanout_source)
    (output / "agreement.json").write_text(json.dumps({"cases": cases}, indent=1))

    demo = output / "demo"
    for name, source in (("jet_tagger", "saved_model"), ("event_classifier", "frozen.pb"),
                         ("particle_flow", "saved_model")):
        (demo / name).mkdir(parents=True)
        compile_xla.compile_model(demo_models / name / source, demo / name / "model.xla", DEMO_BATCH_SIZES,
                                  pinned_host_io=True)
        shutil.copyfile(demo_models / name / "reference.json", demo / name / "reference.json")
    (demo / "workflow.yaml").write_text(DEMO_WORKFLOW)
    print(f"make_gpu_kit_models: {len(cases)} agreement cases, MLP, fanout and demo artifacts in {output}")


if __name__ == "__main__":
    main()
