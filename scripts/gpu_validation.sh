#!/usr/bin/env bash
# Runs on a GPU machine from the kit scripts/gpu_kit.sh packs: hepinfer devices and plan against
# the real inventory, cross-checked with nvidia-smi and PyTorch where they exist, and the effect
# of CUDA_VISIBLE_DEVICES; then the XLA backend on the GPU (PJRT CUDA plugin): agreement with
# Python TF, latency and throughput against the CPU plugin, two memory caps on one GPU, the
# dynamic batcher, and the demo job with its GPU modules on the GPU. Under 10 minutes. Prints
# everything; docs/gpu-validation.md records the output.
set -uo pipefail
kit="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$kit/work/bin"
# The kit's libraries (libstdc++ among them) only for the kit's programs: the machine's Python and
# PyTorch keep their own.
for program in hepinfer bench_xla_gpu bench_pjrt_phases; do
  printf '#!/bin/sh\nLD_LIBRARY_PATH="%s/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "%s/%s" "$@"\n' \
    "$kit" "$kit" "$program" > "$kit/work/bin/$program"
  chmod +x "$kit/work/bin/$program"
done
hepinfer="$kit/work/bin/hepinfer"
started=$(date +%s)
step() { printf '\n===== [%3d s] %s\n' "$(($(date +%s) - started))" "$*"; }

step "machine"; date -u; uname -srm
step "nvidia-smi"
nvidia-smi --query-gpu=index,name,compute_cap,memory.total,memory.used,memory.free --format=csv 2>&1 || echo "(no nvidia-smi)"
# The PJRT plugins first, so every listing below shows what they see too.
step "PJRT plugins"
if [ ! -f "$kit/work/xla_cpu_pjrt.so" ]; then
  python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" \
    "$kit/xla_cpu_pjrt.so.xz" "$kit/work/xla_cpu_pjrt.so" || xz -dc "$kit/xla_cpu_pjrt.so.xz" > "$kit/work/xla_cpu_pjrt.so"
fi
export HEPINFER_PJRT_CPU_PLUGIN="$kit/work/xla_cpu_pjrt.so"
# JAX's CUDA 13 plugin where this machine's Python has it (its CUDA libraries come with it).
if [ -z "${HEPINFER_PJRT_CUDA_PLUGIN:-}" ]; then
  HEPINFER_PJRT_CUDA_PLUGIN=$(python3 -c "import importlib.util, os; s = importlib.util.find_spec('jax_plugins.xla_cuda13') or importlib.util.find_spec('jax_plugins.xla_cuda12'); print(os.path.join(os.path.dirname(s.origin), 'xla_cuda_plugin.so'))" 2>/dev/null || true)
fi
if [ ! -f "${HEPINFER_PJRT_CUDA_PLUGIN:-}" ]; then
  HEPINFER_PJRT_CUDA_PLUGIN=$(find /opt /usr -name xla_cuda_plugin.so -path '*cuda13*' 2>/dev/null | head -1)
fi
export HEPINFER_PJRT_CUDA_PLUGIN
export HEPINFER_XLA_CACHE="$kit/work/xla_cache"
echo "CPU plugin: $HEPINFER_PJRT_CPU_PLUGIN"
echo "CUDA plugin: ${HEPINFER_PJRT_CUDA_PLUGIN:-(none found)}"
python3 -c "import jax; print('JAX', jax.__version__, jax.devices())" 2>&1 | tail -1 || true
step "hepinfer devices"; "$hepinfer" devices
step "hepinfer devices --json"; "$hepinfer" devices --json
step "PyTorch's view (independent cross-check)"
python3 - <<'PY' 2>&1 || echo "(no PyTorch)"
import torch
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    free, total = torch.cuda.mem_get_info(i)
    print(f"{i} {p.name} cc={p.major}.{p.minor} total_mib={total // 2**20} free_mib={free // 2**20}")
PY
step "CUDA_VISIBLE_DEVICES= (hides every GPU)"; CUDA_VISIBLE_DEVICES= "$hepinfer" devices
step "CUDA_VISIBLE_DEVICES=0"; CUDA_VISIBLE_DEVICES=0 "$hepinfer" devices
step "hepinfer plan (real inventory)"; "$hepinfer" plan "$kit/three_modules.yaml"
step "hepinfer plan --json (real inventory)"; "$hepinfer" plan "$kit/three_modules.yaml" --json
step "hepinfer plan --policy pack"; "$hepinfer" plan "$kit/three_modules.yaml" --policy pack
step "an impossible claim fails with one line"
printf 'modules:\n  - name: greedy\n    claim: {gpus: 1, memory_mib: 100000000, cpu_fallback: false}\n' > /tmp/hepinfer_greedy.yaml
"$hepinfer" plan /tmp/hepinfer_greedy.yaml; echo "exit code $?"
step "free memory follows another process's allocation (PyTorch holds 8 GiB on GPU 0)"
python3 - "$hepinfer" <<'PY' 2>&1 || echo "(no PyTorch)"
import subprocess, sys, torch
if torch.cuda.device_count() == 0:
    sys.exit("no GPU visible to PyTorch")
before = subprocess.run([sys.argv[1], "devices", "--json"], capture_output=True, text=True).stdout
held = torch.empty(8 * 2**30, dtype=torch.uint8, device="cuda:0")
torch.cuda.synchronize()
during = subprocess.run([sys.argv[1], "devices", "--json"], capture_output=True, text=True).stdout
free, total = torch.cuda.mem_get_info(0)
print("before:", before.strip())
print("during:", during.strip())
print(f"PyTorch says free_mib={free // 2**20} while holding 8192 MiB")
PY

# ---- The XLA backend on the GPU (issue 15) -----------------------------------------------------
step "each artifact loaded on GPU 0 in a process of its own, four at a time (a plugin that aborts on one program stops that artifact only; the programs go to the compile cache for the parts below)"
find "$kit/xla" -name manifest.json -printf '%h\n' | sort | xargs -P 4 -I{} sh -c '
  out=$(timeout 90 "$1" inspect "$2" --gpu 0 2>&1); code=$?
  if [ "$code" -eq 0 ]; then echo "$2: loaded; $(echo "$out" | grep -m1 -i "pinned host")"
  else echo "$2: FAILED (exit $code): $(echo "$out" | tail -1)"; fi' _ "$hepinfer" {}
step "inspect an artifact placed on GPU 0 (its programs' pinned-host variants run there)"
timeout 60 "$hepinfer" inspect "$kit/xla/mlp.xla" --gpu 0 --gpu-memory-mib 512
step "infer on GPU 0 vs Python TF (MLP, 5000 rows: split over batch 4096 and padded)"
timeout 60 "$hepinfer" infer "$kit/xla/mlp.xla" --gpu 0 -i "x=$kit/xla/references/mlp_large_x_5000.npy" \
  -o "output_0=$kit/work/mlp_gpu_5000.npy" && python3 - "$kit" <<'PY' 2>&1 || echo "(no numpy)"
import sys, numpy as np
kit = sys.argv[1]
got = np.load(f"{kit}/work/mlp_gpu_5000.npy"); want = np.load(f"{kit}/xla/references/mlp_large_prob_5000.npy")
print("max |GPU - Python TF| =", float(np.max(np.abs(got - want))), "shape", got.shape)
PY
step "bench_xla_gpu: agreement, latency GPU (pinned-host variants, plain programs) vs CPU plugin, two caps on one GPU, batcher (JSON below)"
timeout 300 "$kit/work/bin/bench_xla_gpu" "$kit/xla" "$kit/work/bench_xla_gpu.json" --seconds 3
step "one batch-1 round trip step by step through the PJRT C API (MLP), the variants, and programs with their output (and input) in pinned host memory"
timeout 90 "$kit/work/bin/bench_pjrt_phases" "$kit/xla/mlp.xla/b1.mlirbc" 32 "$kit/work/bench_pjrt_phases.json" --seconds 1 \
  --host-output "$kit/xla/probes/mlp_b1_host_output.mlirbc" --host-io "$kit/xla/mlp.xla/b1.pinned_host_io.mlirbc"
step "peer on the same GPU and plugin: JAX, the MLP's shapes (32 -> 4 x 256 -> 8), float32 products"
timeout 60 python3 - <<'PY' 2>&1 | grep -v '^I0000\|^WARNING: All log' || echo "(no JAX)"
# JAX's own dispatch of one jitted program: what the plugin allows a caller per round trip
# (numpy in, numpy out), beside hepinfer's latency part above.
import time, numpy as np, jax, jax.numpy as jnp
sizes = [32, 256, 256, 256, 256, 8]
keys = jax.random.split(jax.random.PRNGKey(0), len(sizes))
params = [(jax.random.normal(k, (a, b), jnp.float32) * 0.05, jnp.zeros((b,), jnp.float32))
          for k, a, b in zip(keys, sizes[:-1], sizes[1:])]
@jax.jit
def mlp(x):
    for w, b in params[:-1]:
        x = jax.nn.relu(jnp.dot(x, w, precision="highest") + b)
    w, b = params[-1]
    return jax.nn.softmax(jnp.dot(x, w, precision="highest") + b)
print("JAX", jax.__version__, jax.devices()[0])
for batch in (1, 64, 4096):
    x = np.random.default_rng(1).random((batch, 32), dtype=np.float32)
    for _ in range(50):
        np.asarray(mlp(x))
    samples, end = [], time.perf_counter() + 2
    while time.perf_counter() < end:
        t = time.perf_counter(); np.asarray(mlp(x)); samples.append(time.perf_counter() - t)
    device_x = jax.device_put(x); mlp(device_x).block_until_ready()
    on_device, end = [], time.perf_counter() + 1
    while time.perf_counter() < end:
        t = time.perf_counter(); mlp(device_x).block_until_ready(); on_device.append(time.perf_counter() - t)
    print(f"JAX batch {batch}: round trip p50 {np.median(samples) * 1e6:.1f} us, p99 "
          f"{np.percentile(samples, 99) * 1e6:.1f} us; input already on the GPU p50 {np.median(on_device) * 1e6:.1f} us")
PY
step "the demo job with its models on the XLA backend, GPU modules on the GPU"
timeout 90 "$hepinfer" run "$kit/xla/demo/workflow.yaml" --events 2000 --quiet
step "the same, second start: programs from the compile cache"
timeout 90 "$hepinfer" run "$kit/xla/demo/workflow.yaml" --events 200 --quiet --json | python3 -c "import json, sys; r = json.load(sys.stdin); print('begin job', r['job']['begin_job_s'], 's;', [(m['name'], m['device'], m['backend_device']) for m in r['modules']])"
step "bench CLI on GPU 0: 16 requesters, direct and batched"
timeout 45 "$hepinfer" bench "$kit/xla/mlp.xla" --gpu 0 --requesters 16 --seconds 3
timeout 45 "$hepinfer" bench "$kit/xla/mlp.xla" --gpu 0 --requesters 16 --seconds 3 --batching --max-batch 64 --max-delay-us 200
step "bench_xla_gpu JSON"; cat "$kit/work/bench_xla_gpu.json"
