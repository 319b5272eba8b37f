#!/usr/bin/env bash
# Prepares the separate virtual environment of the Open Inference Protocol test server
# (tools/oip_server.py, started by scripts/serve_oip.sh): ${HEPINFER_KSERVE_VENV:-.venv-kserve}
# holding exactly the packages of scripts/requirements-kserve.lock (KServe, TensorFlow, the
# tritonclient HTTP peer; every transitive package pinned, hashes checked). It is kept apart from
# .venv because KServe needs protobuf < 7. Needs python3-venv (scripts/setup.sh installs it).
# Idempotent: a second run only checks.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${HEPINFER_KSERVE_VENV:-$repo/.venv-kserve}
python=${HEPINFER_PYTHON:-python3}

if [ ! -x "$venv/bin/python" ]; then
  echo "setup_kserve: creating virtual environment $venv"
  "$python" -m venv "$venv"
fi
# --no-deps: the lock already lists every package. Resolving again would hit a pip bug (pip 23.2 as
# bundled with Python 3.11.7): kserve asks for uvicorn[standard], and in --require-hashes mode pip then
# picks the newest uvicorn instead of the locked one and stops with "must have their versions pinned".
# pip check below still verifies that the installed set satisfies every package's requirements.
"$venv/bin/python" -m pip install -q --disable-pip-version-check --require-hashes --no-deps \
  -r "$repo/scripts/requirements-kserve.lock"
"$venv/bin/python" -m pip check --disable-pip-version-check >/dev/null || {
  "$venv/bin/python" -m pip check --disable-pip-version-check >&2
  echo "setup_kserve: the packages in $venv do not fit together" >&2
  exit 1
}
# TensorFlow's start-up chatter goes to a file, shown only if an import fails.
err=$(mktemp)
trap 'rm -f "$err"' EXIT
if ! TF_CPP_MIN_LOG_LEVEL=3 "$venv/bin/python" - "$venv" 2>"$err" <<'PY'
import sys
from importlib.metadata import version
import kserve, tensorflow, tritonclient.http  # noqa: F401  (fails here if an import is broken)
print(f"setup_kserve: kserve {version('kserve')}, TensorFlow {version('tensorflow-cpu')}, "
      f"tritonclient {version('tritonclient')} in {sys.argv[1]}")
PY
then
  cat "$err" >&2
  echo "setup_kserve: the environment $venv does not import kserve, tensorflow and tritonclient" >&2
  exit 1
fi
