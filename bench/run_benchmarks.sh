#!/usr/bin/env bash
# Runs the benchmarks in bench/ and prints the README's tables. Results in build/bench/:
#   inference.json  per-call latency of the MLP: hepinfer vs plain Session::Run vs TF Python
#   threading.json  1-8 calling threads per threading mode vs plain Session::Run, with floors
#   batching.json   1-64 requesters with and without dynamic batching; a 100 000-row split request
#   usage: bench/run_benchmarks.sh [SECONDS_PER_MEASUREMENT]   (default 2)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
seconds=${1:-2}
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DHEPINFER_BUILD_BENCHMARKS=ON >/dev/null
cmake --build build -j "$(nproc)" --target bench_inference bench_threading bench_batching hepinfer_models >/dev/null
mkdir -p build/bench
build/bench/bench_inference build/models build/bench/inference_cpp.json --seconds "$seconds"
.venv/bin/python bench/bench_python.py build/models build/bench/inference_python.json --seconds "$seconds"
build/bench/bench_threading build/models build/bench/threading.json --seconds "$seconds"
build/bench/bench_batching build/models build/bench/batching.json --seconds "$seconds" >/dev/null
echo
.venv/bin/python bench/report.py build/bench/inference_cpp.json build/bench/inference_python.json build/bench/inference.json
echo
.venv/bin/python bench/report_threading.py build/bench/threading.json
echo
.venv/bin/python bench/report_batching.py build/bench/batching.json build/bench/batching.png
