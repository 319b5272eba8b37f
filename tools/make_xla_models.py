#!/usr/bin/env python3
"""Compiles every test model's SavedModel and frozen graph (tools/make_test_models.py's manifest)
into XLA artifacts for the XLA backend's tests, at batch sizes 1 and 4 (so that a batch of 5 is
split and one of 2 is padded). Writes OUTPUT_DIR/<model>.xla (from the SavedModel),
OUTPUT_DIR/<model>.frozen.xla (from the frozen graph), OUTPUT_DIR/<model>.pinned_host_io.xla
(the SavedModels of PINNED_HOST_IO_FAMILIES with each program's variant for GPUs,
`hepinfer compile --pinned-host-io`), OUTPUT_DIR/<model>.parameters.xla and
OUTPUT_DIR/<model>.frozen.parameters.xla (every SavedModel and frozen graph with its weights fed as
parameters, `--weights parameters`; models with nothing to feed, no variables or no large
constants, are left out) and OUTPUT_DIR/index.json, which lists the artifacts and, for a model
XLA cannot compile, why.

Usage: make_xla_models.py MODELS_DIR OUTPUT_DIR
"""
import json
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).parent))
import compile_xla  # noqa: E402

BATCH_SIZES = (1, 4)
# Several inputs and outputs; float64, int32, int64 and bool.
PINNED_HOST_IO_FAMILIES = ("multi_io", "dtypes")


def main():
    models, output = Path(sys.argv[1]), Path(sys.argv[2])
    output.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((models / "manifest.json").read_text())
    index = {"batch_sizes": list(BATCH_SIZES), "artifacts": {}, "refused": {}, "frozen_artifacts": {},
             "frozen_refused": {}, "pinned_host_io_artifacts": {}, "parameters_artifacts": {},
             "parameters_refused": {}, "frozen_parameters_artifacts": {}, "frozen_parameters_refused": {}}
    for model in manifest["models"]:
        name = model["name"]
        for format_name, suffix, compiled, refused in (("saved_model", ".xla", "artifacts", "refused"),
                                                      ("frozen_graph", ".frozen.xla", "frozen_artifacts",
                                                       "frozen_refused")):
            if format_name not in model["formats"]:
                continue
            try:
                compile_xla.compile_model(models / model["formats"][format_name]["path"], output / f"{name}{suffix}",
                                          BATCH_SIZES)
                index[compiled][name] = f"{name}{suffix}"
            except compile_xla.CompileError as error:
                index[refused][name] = str(error)
        for format_name, suffix, compiled, refused in (
                ("saved_model", ".parameters.xla", "parameters_artifacts", "parameters_refused"),
                ("frozen_graph", ".frozen.parameters.xla", "frozen_parameters_artifacts", "frozen_parameters_refused")):
            if name not in index["artifacts" if format_name == "saved_model" else "frozen_artifacts"]:
                continue
            parameters = output / f"{name}{suffix}"
            try:
                compile_xla.compile_model(models / model["formats"][format_name]["path"], parameters, BATCH_SIZES,
                                          weights="parameters")
                if (parameters / compile_xla.WEIGHTS_FILE).exists():
                    index[compiled][name] = parameters.name
                else:
                    shutil.rmtree(parameters)  # nothing to feed: the same as the baked artifact
            except compile_xla.CompileError as error:  # TF1 loops: tf2xla compiles them with their constants
                index[refused][name] = str(error)
        if name in PINNED_HOST_IO_FAMILIES:
            compile_xla.compile_model(models / model["formats"]["saved_model"]["path"],
                                      output / f"{name}.pinned_host_io.xla", BATCH_SIZES, pinned_host_io=True)
            index["pinned_host_io_artifacts"][name] = f"{name}.pinned_host_io.xla"
    (output / "index.json").write_text(json.dumps(index, indent=2))
    print(f"make_xla_models: {len(index['artifacts'])} SavedModel artifacts, {len(index['refused'])} refused: "
          f"{sorted(index['refused'])}; {len(index['frozen_artifacts'])} frozen-graph artifacts, "
          f"{len(index['frozen_refused'])} refused: {sorted(index['frozen_refused'])}; "
          f"{len(index['parameters_artifacts'])} + {len(index['frozen_parameters_artifacts'])} with weights as "
          "parameters")


if __name__ == "__main__":
    main()
