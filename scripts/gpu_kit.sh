#!/usr/bin/env bash
# Builds what the GPU validation needs without TensorFlow (the GPU machines have neither TF nor a
# package network) and packs it into gpu-kit/ (under 64 MiB, what the device tool carries):
#  - the hepinfer CLI, bench_xla_gpu and bench_pjrt_phases, TF-free, with the XLA backend (no
#    remote backend: its TLS library would add 5 MB), and the shared libraries they need beyond
#    glibc;
#  - the PJRT CPU plugin, xz-compressed (the baseline on the GPU host; 259 MB unpacked). The
#    CUDA plugin is not carried: the GPU machines have jax-cuda13-pjrt with its CUDA libraries;
#  - XLA artifacts and Python TF's reference outputs made here (tools/make_gpu_kit_models.py);
#  - the example workflows and scripts/gpu_validation.sh.
# Carry gpu-kit/ to the GPU machine and run `bash gpu-kit/gpu_validation.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${HEPINFER_PYTHON:-$PWD/.venv/bin/python}
cmake -S . -B build-gpu-kit -DHEPINFER_WITH_TENSORFLOW=OFF -DHEPINFER_WITH_REMOTE=OFF -DHEPINFER_BUILD_TESTS=OFF -DHEPINFER_BUILD_BENCHMARKS=ON \
  -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-gpu-kit -j "$(nproc)" --target hepinfer bench_xla_gpu bench_pjrt_phases >/dev/null
rm -rf gpu-kit && mkdir -p gpu-kit/lib gpu-kit/work
cp build-gpu-kit/src/cli/hepinfer build-gpu-kit/bench/bench_xla_gpu build-gpu-kit/bench/bench_pjrt_phases gpu-kit/
strip gpu-kit/hepinfer gpu-kit/bench_xla_gpu gpu-kit/bench_pjrt_phases  # the kit's 64 MiB
for library in $(ldd build-gpu-kit/src/cli/hepinfer build-gpu-kit/bench/bench_xla_gpu build-gpu-kit/bench/bench_pjrt_phases | awk '/=>/ {print $3}' | sort -u); do
  case "$(basename "$library")" in
    libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*) ;;  # the machine's own glibc
    *) cp -L "$library" gpu-kit/lib/ ;;
  esac
done
cpu_plugin=$(grep '^HEPINFER_PJRT_CPU_PLUGIN:' build-gpu-kit/CMakeCache.txt | cut -d= -f2)
xz -T0 -6 -c "$cpu_plugin" > gpu-kit/xla_cpu_pjrt.so.xz

# Models and references, by Python TensorFlow, here.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
TF_CPP_MIN_LOG_LEVEL=3 "$python" tools/make_test_models.py "$work/models" >/dev/null
TF_CPP_MIN_LOG_LEVEL=3 "$python" tools/make_demo_models.py "$work/demo_models" >/dev/null
TF_CPP_MIN_LOG_LEVEL=3 "$python" tools/make_gpu_kit_models.py "$work/models" "$work/demo_models" gpu-kit/xla 2>/dev/null

cp examples/workflows/three_modules.yaml examples/workflows/two_gpus.yaml scripts/gpu_validation.sh gpu-kit/
du -sh gpu-kit
