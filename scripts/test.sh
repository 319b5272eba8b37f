#!/usr/bin/env bash
# The README's test command: set up a fresh machine, build everything, run every test.
#   1. scripts/setup.sh (Debian packages, .venv with the pinned TensorFlow)
#   2. the full build in build/ (CMake preset default) (generates the test models with Python TF) and its ctest suite,
#      then the TensorFlow and CLI tests again with TF's oneDNN ops the other way
#      (TF_ENABLE_ONEDNN_OPTS): hepinfer must be right whatever the host CPU makes TF choose
#      (not those of `hepinfer compile`, label compile)
#   3. `cmake --install` of that build into a temporary prefix, and examples/external_project
#      built against it with find_package(hepinfer) and run
#   4. a build with TensorFlow switched off in build-notf/ (preset notf), proving the core and the CLI's
#      non-TF commands stand alone, and its tests
#   5. scripts/sanitize.sh: ASan+UBSan of everything with the fuzz corpora replayed, and TSan of
#      the TF-free code
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
jobs=${HEPINFER_JOBS:-$(nproc)}

bash scripts/setup.sh

cmake --preset default
cmake --build --preset default -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs"
if build/src/cli/hepinfer --version | grep -q "oneDNN on"; then other_onednn=0; else other_onednn=1; fi
# Not `hepinfer compile`'s tests (label compile): their time is the Python compilers', which lower
# to XLA without TF's kernels; what oneDNN changes is the TF backend's runs.
echo "hepinfer: TensorFlow and CLI tests again with TF_ENABLE_ONEDNN_OPTS=$other_onednn"
TF_ENABLE_ONEDNN_OPTS=$other_onednn ctest --test-dir build --output-on-failure -j "$jobs" -L "^(tf|cli)$"

installed=$(mktemp -d)
trap 'rm -rf "$installed"' EXIT
cmake --install build --prefix "$installed/prefix" >/dev/null
cmake -S examples/external_project -B "$installed/consumer" -DCMAKE_PREFIX_PATH="$installed/prefix" >/dev/null
cmake --build "$installed/consumer" -j "$jobs" >/dev/null
"$installed/consumer/consumer" build/models/mlp/saved_model 2>/dev/null | grep "output_0 is float32\[2, 8\]"
"$installed/prefix/bin/hepinfer" --version
# The installed CLI finds its own demo models (nothing of the build tree is compiled in).
"$installed/prefix/bin/hepinfer" run --events 40 --quiet | grep -q "checks"
echo "hepinfer: the installed package works from an external CMake project, and its CLI on its own"

cmake --preset notf
cmake --build --preset notf -j "$jobs"
ctest --test-dir build-notf --output-on-failure -j "$jobs"

# ASan+UBSan of everything with the fuzz corpora replayed; TSan of the TF-free code.
bash scripts/sanitize.sh all
echo "hepinfer: all tests passed"
