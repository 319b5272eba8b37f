#!/usr/bin/env bash
# Runs the inference benchmark (C++: hepinfer and plain Session::Run; Python: the SavedModel's
# signature) in one invocation and prints the README table. Results: build/bench/inference.json
#   usage: bench/run_benchmarks.sh [SECONDS_PER_MEASUREMENT]   (default 2)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
seconds=${1:-2}
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DHEPINFER_BUILD_BENCHMARKS=ON >/dev/null
cmake --build build -j "$(nproc)" --target bench_inference hepinfer_models >/dev/null
mkdir -p build/bench
build/bench/bench_inference build/models build/bench/inference_cpp.json --seconds "$seconds"
.venv/bin/python bench/bench_python.py build/models build/bench/inference_python.json --seconds "$seconds"
.venv/bin/python bench/report.py build/bench/inference_cpp.json build/bench/inference_python.json build/bench/inference.json
