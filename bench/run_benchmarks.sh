#!/usr/bin/env bash
# The benchmark report: runs every benchmark in bench/ and the demo job, writes JSON, prints the
# README's tables and renders the plots. Results in build/bench/:
#   inference_cpp.json, inference_python.json  MLP throughput/latency against batch size: hepinfer,
#                                              plain Session::Run and Python TF, same model and inputs
#   threading.json  1-8 calling threads per threading mode vs plain Session::Run, with floors
#   batching.json   1-64 requesters with and without dynamic batching; a 100 000-row split request
#   job.json        hepinfer run (the demo job) at 1..N threads, dynamic batching on and off
#   xla/report_xla.json  the XLA backend (CPU plugin) vs the TF backend, ONNX Runtime, TF Python
#   aot/report_aot.json  the AOT backend vs the TF backend, ONNX Runtime, TF Python (MLP, DeepJet-like),
#                  and the demo job on AOT packages
#   remote/report_remote.json  the remote backend against KServe vs tritonclient's Python client;
#                  batching; a server killed mid-run (also remote/scale_out_measured.json)
# Plots in build/bench/plots/ (copy to docs/images/ to update the README's).
#
# usage: bench/run_benchmarks.sh [--preset short|full]
#   short: ~0.3 s per measurement, 3 batch sizes, 1 000-event jobs (a few minutes)
#   full:  2 s per measurement, 6 batch sizes, 5 000-event jobs (the README's numbers)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
preset=full
if [[ $# -ge 2 && $1 == --preset ]]; then preset=$2; elif [[ $# -ne 0 ]]; then
  echo "usage: bench/run_benchmarks.sh [--preset short|full]" >&2; exit 2
fi
case $preset in
  short) seconds=0.3; batches=1,64,1024; events=1000 ;;
  full) seconds=2; batches=1,4,16,64,256,1024; events=5000 ;;
  *) echo "unknown preset '$preset' (short or full)" >&2; exit 2 ;;
esac
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DHEPINFER_BUILD_BENCHMARKS=ON >/dev/null
cmake --build build -j "$(nproc)" --target bench_inference bench_threading bench_batching bench_xla bench_aot bench_remote hepinfer \
  hepinfer_models hepinfer_demo_models hepinfer_demo_packages >/dev/null
out=build/bench
mkdir -p "$out"
build/bench/bench_inference build/models "$out/inference_cpp.json" --seconds "$seconds" --batches "$batches"
.venv/bin/python bench/bench_python.py build/models "$out/inference_python.json" --seconds "$seconds" --batches "$batches"
build/bench/bench_threading build/models "$out/threading.json" --seconds "$seconds"
build/bench/bench_batching build/models "$out/batching.json" --seconds "$seconds" >/dev/null

# The demo job at 1, 2, 4, ... threads up to the cores, with and without dynamic batching.
runs=()
for ((threads = 1; threads <= $(nproc); threads *= 2)); do
  for batching in on off; do
    file="$out/job_${threads}_${batching}.json"
    build/src/cli/hepinfer run --events "$events" --threads "$threads" --batching "$batching" --json --quiet >"$file"
    runs+=("$file")
  done
done
.venv/bin/python - "$out/job.json" "${runs[@]}" <<'PY'
import json, re, sys
runs = []
for path in sys.argv[2:]:
    report = json.load(open(path))
    report["batching"] = re.search(r"_(on|off)\.json$", path).group(1)
    runs.append(report)
json.dump(runs, open(sys.argv[1], "w"), indent=1)
PY

echo "preset $preset; $(nproc) hardware threads; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo
.venv/bin/python bench/report.py "$out/inference_cpp.json" "$out/inference_python.json" "$out/inference.json"
echo
.venv/bin/python bench/report_threading.py "$out/threading.json"
echo
.venv/bin/python bench/report_batching.py "$out/batching.json"
echo
.venv/bin/python - "$out/job.json" <<'PY'
import json, sys
print("| demo job | threads | events/s | CPU efficiency | peak RSS MiB | threads in process | jet tagger mean batch |")
print("|---|---:|---:|---:|---:|---:|---:|")
for r in json.load(open(sys.argv[1])):
    j = r["job"]
    print(f"| batching {r['batching']} | {j['threads']} | {j['events_per_second']:.0f} | {100 * j['cpu_efficiency']:.0f}% | "
          f"{j['peak_rss_mib']:.0f} | {j['peak_threads']} | {r['modules'][0]['mean_batch_rows']:.1f} |")
PY
echo
HEPINFER_XLA_CACHE=off TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python bench/report_xla.py build "$out/xla" \
  --seconds "$seconds" --batches 1,64,1024 | sed -n '/^Machine:/,$p'
echo
TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python bench/report_aot.py build "$out/aot" --seconds "$seconds" --batches 1,64 --tune \
  --events "$events" | sed -n '/^Machine:/,$p'
echo
TF_CPP_MIN_LOG_LEVEL=3 .venv/bin/python bench/report_remote.py build "$out/remote" --seconds "$seconds" | sed -n '/^Machine:/,$p'
echo
.venv/bin/python bench/plot_report.py "$out" "$out/plots"
