#!/usr/bin/env bash
# Runs on a GPU machine from the kit scripts/gpu_kit.sh packs: hepinfer devices and plan against
# the real inventory, cross-checked with nvidia-smi and PyTorch where they exist, and the effect
# of CUDA_VISIBLE_DEVICES. Prints everything; docs/gpu-validation.md records the output.
set -uo pipefail
kit="$(cd "$(dirname "$0")" && pwd)"
export LD_LIBRARY_PATH="$kit/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
hepinfer="$kit/hepinfer"
step() { printf '\n===== %s\n' "$*"; }

step "machine"; date -u; uname -srm
step "nvidia-smi"
nvidia-smi --query-gpu=index,name,compute_cap,memory.total,memory.used,memory.free --format=csv 2>&1 || echo "(no nvidia-smi)"
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
