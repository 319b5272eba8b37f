#!/usr/bin/env bash
# Prepares the separate virtual environment of the second Open Inference Protocol test server,
# Seldon MLServer (tests/remote/serve_mlserver.py serving tests/remote/mlserver_double):
# ${HEPINFER_MLSERVER_VENV:-.venv-mlserver} holding exactly the packages of
# scripts/requirements-mlserver.lock (every transitive package pinned, hashes checked). It is kept
# apart from .venv-kserve because mlserver 1.7.1 needs starlette < 0.47 and kserve 0.21.0 starlette
# >= 1.3.1, and from .venv because of protobuf 7. Needs python3-venv (scripts/setup.sh installs it).
# Idempotent: a second run only checks.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${HEPINFER_MLSERVER_VENV:-$repo/.venv-mlserver}
python=${HEPINFER_PYTHON:-python3}

if [ ! -x "$venv/bin/python" ]; then
  echo "setup_mlserver: creating virtual environment $venv"
  "$python" -m venv "$venv"
fi
# --no-deps: the lock already lists every package (as in scripts/setup_kserve.sh, whose comment says
# why resolving again in --require-hashes mode is avoided). pip check below still verifies that the
# installed set satisfies every package's requirements.
"$venv/bin/python" -m pip install -q --disable-pip-version-check --require-hashes --no-deps \
  -r "$repo/scripts/requirements-mlserver.lock"
"$venv/bin/python" -m pip check --disable-pip-version-check >/dev/null || {
  "$venv/bin/python" -m pip check --disable-pip-version-check >&2
  echo "setup_mlserver: the packages in $venv do not fit together" >&2
  exit 1
}
err=$(mktemp)
trap 'rm -f "$err"' EXIT
if ! "$venv/bin/python" - "$venv" 2>"$err" <<'PY'
import sys
from importlib.metadata import version
import mlserver, mlserver.rest, mlserver.grpc, numpy  # noqa: F401  (fails here if an import is broken)
print(f"setup_mlserver: mlserver {version('mlserver')}, numpy {version('numpy')} in {sys.argv[1]}")
PY
then
  cat "$err" >&2
  echo "setup_mlserver: the environment $venv does not import mlserver" >&2
  exit 1
fi
