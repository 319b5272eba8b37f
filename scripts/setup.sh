#!/usr/bin/env bash
# Prepares a fresh Debian 12 machine for building hepinfer:
#   1. Debian packages for the build and tests (apt-get, only what is missing),
#   2. a project-local virtual environment (.venv) holding exactly the packages of
#      scripts/requirements.lock (every transitive package pinned, hashes checked): the TensorFlow
#      wheel, whose libtensorflow_cc / libtensorflow_framework and headers the C++ build links,
#      and what the model generators and benchmark plots use; then, without their dependencies,
#      the packages of scripts/requirements-no-deps.lock (tf-keras, which would bring a second TF).
#   3. the separate environment of the Open Inference Protocol test server (.venv-kserve, pinned by
#      scripts/requirements-kserve.lock; scripts/setup_kserve.sh), and of MLServer (.venv-mlserver,
#      scripts/setup_mlserver.sh).
# Idempotent: a second run only checks.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${HEPINFER_VENV:-$repo/.venv}

debian_packages=(
  cmake g++ make python3-venv clang valgrind
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev nlohmann-json3-dev libtbb-dev libyaml-cpp-dev
  libboost1.81-dev
  libssl-dev openssl
)

missing=()
for pkg in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

python=${HEPINFER_PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating virtual environment $venv"
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check --require-hashes -r "$repo/scripts/requirements.lock"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --require-hashes --no-deps \
  -r "$repo/scripts/requirements-no-deps.lock"
"$venv/bin/python" - <<'PY'
import tensorflow as tf, os
lib = tf.sysconfig.get_lib()
for name in ("libtensorflow_cc.so.2", "libtensorflow_framework.so.2"):
    if not os.path.exists(os.path.join(lib, name)):
        raise SystemExit(f"setup: {name} is missing from {lib}; the TensorFlow wheel has no C++ runtime")
print(f"setup: TensorFlow {tf.__version__} C++ runtime at {lib}")
PY

# The Open Inference Protocol test servers' own environments: KServe (needs protobuf < 7) and
# MLServer (a second, JSON-only implementation; its starlette pin excludes KServe's).
bash "$repo/scripts/setup_kserve.sh"
bash "$repo/scripts/setup_mlserver.sh"
