#!/bin/bash
# Builds and runs the prototype: main path, error-path tests (one process each,
# since some abort), and client-option tests. Sequential, single-threaded build.
set -u
cd "$(dirname "$0")"
TF_INC=${TF_INC:-/work/main/.venv/lib/python3.11/site-packages/tensorflow/include}
PLUGIN=${PLUGIN:-$PWD/venv/lib/python3.11/site-packages/xla_plugins/xla_cpu_pjrt/xla_cpu_pjrt.so}
ART=${ART:-$PWD/artifacts}
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-1}   # hide plugin INFO logs
g++ -std=c++17 -O2 -Wall -Wextra -I"$TF_INC" main.cpp -o pjrt_proto -ldl || exit 1
echo "== run"; ./pjrt_proto "$PLUGIN" "$ART" run "${ITERS:-1000}"; echo "rc=$?"
echo "== errors"; mkdir -p logs
n=$(./pjrt_proto "$PLUGIN" "$ART" errors 2>/dev/null | sed -n 's/^NUM_TESTS //p')
for ((i = 0; i < n; i++)); do
  ./pjrt_proto "$PLUGIN" "$ART" errors $i 2>logs/err.$i.log | grep '^TEST'
  rc=${PIPESTATUS[0]}
  if [ "$rc" -ne 0 ]; then
    echo "   -> process died rc=$rc: $(grep -m1 -E 'Check failed|F0000|terminate' logs/err.$i.log | cut -c1-200)"
  fi
done
echo "== client options"; ./pjrt_proto "$PLUGIN" "$ART" opts 2>/dev/null
