#!/usr/bin/env bash
# Builds what the GPU validation needs without TensorFlow (the GPU machines have neither TF nor a
# package network) and packs it into gpu-kit/: the hepinfer CLI, the shared libraries it needs
# beyond glibc, the example workflow and scripts/gpu_validation.sh. Carry gpu-kit/ to the GPU
# machine and run `bash gpu-kit/gpu_validation.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-gpu-kit -DHEPINFER_WITH_TENSORFLOW=OFF -DHEPINFER_BUILD_TESTS=OFF -DHEPINFER_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build-gpu-kit -j "$(nproc)" --target hepinfer >/dev/null
rm -rf gpu-kit && mkdir -p gpu-kit/lib
cp build-gpu-kit/src/cli/hepinfer gpu-kit/
for library in $(ldd build-gpu-kit/src/cli/hepinfer | awk '/=>/ {print $3}'); do
  case "$(basename "$library")" in
    libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*) ;;  # the machine's own glibc
    *) cp -L "$library" gpu-kit/lib/ ;;
  esac
done
cp examples/workflows/three_modules.yaml examples/workflows/two_gpus.yaml scripts/gpu_validation.sh gpu-kit/
du -sh gpu-kit
