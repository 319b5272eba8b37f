#!/usr/bin/env bash
# The README's main command: set up, build, generate the test and demo models, show the CLI's
# model commands on them, and finish with the demo job (`hepinfer run`): three modules claim
# devices, one plan, events on TBB streams, a checked summary.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
jobs=${HEPINFER_JOBS:-$(nproc)}

bash scripts/setup.sh
cmake --preset default >/dev/null
cmake --build build -j "$jobs" --target hepinfer hepinfer_models hepinfer_demo_models

hepinfer=build/src/cli/hepinfer
models=build/models
out=build/demo-output
mkdir -p "$out"

set -x
"$hepinfer" inspect "$models/multi_io/saved_model"
"$hepinfer" infer "$models/multi_io/saved_model" \
  --input jets="$models/multi_io/cases/b5_inputs_jets.npy" \
  --input event="$models/multi_io/cases/b5_inputs_event.npy" \
  --output-dir "$out"
"$hepinfer" npy "$out"/output_0.npy "$out"/output_1.npy
"$hepinfer" inspect "$models/tf1_graph/frozen.pb"
"$hepinfer" infer "$models/tf1_graph/frozen.pb" --input x="$models/tf1_graph/cases/b5_inputs_x.npy" \
  --output prob="$out/prob.npy"
"$hepinfer" npy "$out/prob.npy"
"$hepinfer" inspect "$models/mlp/saved_model" --memory
"$hepinfer" devices
"$hepinfer" plan examples/workflows/three_modules.yaml --inventory examples/workflows/two_gpus.yaml
"$hepinfer" bench "$models/mlp/frozen.pb" --requesters 8 --seconds 1 --batching
"$hepinfer" run
