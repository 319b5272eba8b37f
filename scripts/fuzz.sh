#!/usr/bin/env bash
# The libFuzzer targets in fuzz/ (built by scripts/sanitize.sh into build-sanitize).
#   scripts/fuzz.sh replay BUILD_DIR            run every corpus input once through its fuzzer (CI)
#   scripts/fuzz.sh run BUILD_DIR TARGET SECS   fuzz TARGET (npy, workflow, model, xla_manifest, aot_manifest, oip_response) for SECS seconds;
#                                               new inputs go to build-dir/fuzz-corpus/TARGET, findings
#                                               to build-dir/fuzz-findings/TARGET
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
mode=${1:?replay or run}
build=${2:?build directory}
export LSAN_OPTIONS="suppressions=$repo/scripts/lsan_suppressions.txt:print_suppressions=0"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:detect_container_overflow=0}
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$repo/scripts/ubsan_suppressions.txt"
case $mode in
  replay)
    for target in npy workflow model xla_manifest aot_manifest oip_response; do
      fuzzer="$build/fuzz/fuzz_$target"
      [[ -x $fuzzer ]] || { echo "no $fuzzer (TensorFlow off?)"; continue; }
      "$fuzzer" -runs=0 "fuzz/corpus/$target" 2>&1 | tail -1
    done ;;
  run)
    target=${3:?target}; seconds=${4:?seconds}
    mkdir -p "$build/fuzz-corpus/$target" "$build/fuzz-findings/$target"
    "$build/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 \
      -artifact_prefix="$build/fuzz-findings/$target/" "$build/fuzz-corpus/$target" "fuzz/corpus/$target" ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
