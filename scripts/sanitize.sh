#!/usr/bin/env bash
# Sanitizer runs (scripts/test.sh calls this; CI runs it), as the CMake presets asan-ubsan and tsan:
#   1. build-sanitize: clang, everything (TensorFlow backend, tests, fuzzers) instrumented with
#      AddressSanitizer + UndefinedBehaviorSanitizer; runs every test but most of `hepinfer
#      compile`'s (below), then replays the fuzz corpora (fuzz/corpus/*) through the fuzzers.
#      TF's wheel itself is not instrumented; scripts/{lsan,ubsan}_suppressions.txt say what is
#      silenced in it and why. Debug information is line tables only (-gline-tables-only): all a
#      report's stack needs, half the object size and ~10% less compile time than -g.
#   2. build-tsan: g++, ThreadSanitizer, TensorFlow off; runs every TF-free test (scheduler,
#      batching, the framework's TBB event loop, all with in-process models doing real work).
# usage: scripts/sanitize.sh [asan|tsan|all]   (default all)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
jobs=${HEPINFER_JOBS:-$(nproc)}
what=${1:-all}
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$repo/scripts/ubsan_suppressions.txt"
# TF's wheel is not instrumented and keeps process-lifetime singletons: leaks are reported only
# for hepinfer's own code (lsan_suppressions.txt names TF's libraries and Python).
export LSAN_OPTIONS="suppressions=$repo/scripts/lsan_suppressions.txt:print_suppressions=0"
# detect_container_overflow=0: protobuf's containers are annotated by hepinfer's instrumented
# copies of their inline code and then filled by TF's uninstrumented library, which ASan
# reports as overflows (ASan's documented caveat for partly instrumented programs).
# allocator_may_return_null=1: a tensor too large for memory must become a typed error.
asan_options=detect_leaks=1:allocator_may_return_null=1:detect_container_overflow=0

if [[ $what == all || $what == asan ]]; then
  # The main build's generated models, XLA artifacts and AOT packages, when it has them: the same
  # models (seeded generators), and no build instruments them.
  models_from=()
  [[ -f build/models/manifest.json ]] && models_from=(-DHEPINFER_MODELS_FROM="$repo/build")
  cmake --preset asan-ubsan "${models_from[@]}" >/dev/null
  cmake --build --preset asan-ubsan -j "$jobs"
  # ASan reserves terabytes of shadow address space, so the test that caps RLIMIT_AS skips itself.
  # Not the `hepinfer compile` tests (label compile): their time is the Python compilers', which no
  # sanitizer sees, and every test family's compiled artifacts run in the xla and aot tests. Kept:
  # those whose artifacts take backend paths nothing else does (inputs fed whole to every run,
  # index ranges), and the compile command's own run through to the XLA backend.
  ASAN_OPTIONS=$asan_options ctest --test-dir build-sanitize -j "$jobs" --output-on-failure -LE "^compile$"
  ASAN_OPTIONS=$asan_options ctest --test-dir build-sanitize -j "$jobs" --output-on-failure --no-tests=error -L "^compile$" \
    -R "^Cli\.(CompiledModelsRunOnTheXlaBackendAndAgreeWithPython|PerCallInputsAreFedWholeToEveryRunAndPart|IndicesOutsideAnEmbeddingsTableAreRefusedAsTensorFlowRefusesThem)$"
  ASAN_OPTIONS=$asan_options bash scripts/fuzz.sh replay build-sanitize
  echo "hepinfer: ASan+UBSan tests and corpus replays clean"
fi

if [[ $what == all || $what == tsan ]]; then
  cmake --preset tsan >/dev/null
  cmake --build --preset tsan -j "$jobs"
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:allocator_may_return_null=1:suppressions=$repo/scripts/tsan_suppressions.txt" \
    ctest --test-dir build-tsan -j "$jobs" --output-on-failure
  echo "hepinfer: ThreadSanitizer tests clean"
fi
