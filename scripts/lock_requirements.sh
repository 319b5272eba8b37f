#!/usr/bin/env bash
# Regenerates scripts/requirements.lock, the fully pinned Python environment (every transitive
# package, with the sha256 of each of its files on PyPI), from the top-level pins in
# scripts/requirements.in. scripts/setup.sh installs the lock with --require-hashes.
# Likewise scripts/requirements-kserve.lock from scripts/requirements-kserve.in: the separate
# environment .venv-kserve of the Open Inference Protocol test server (scripts/setup_kserve.sh).
# And scripts/requirements-mlserver.lock: .venv-mlserver, MLServer, the JSON-only second test server.
# scripts/requirements-no-deps.lock is kept by hand (its packages are installed without their
# dependencies; see its header).
# pip-compile keeps the pins already in a lock that still satisfy its .in file; delete a lock
# to resolve it from scratch.
#
# To move to a newer TensorFlow: change its pin (and numpy's, if TF asks for it) in
# requirements.in, run this script, then build and run scripts/test.sh on an AVX2 and an
# AVX-512 host; README.md ("Moving to a newer TensorFlow") lists what else to check.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${HEPINFER_PYTHON:-python3}
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT

"$python" -m venv "$tools/venv"
"$tools/venv/bin/python" -m pip install -q --disable-pip-version-check pip-tools==7.6.2
cd "$repo/scripts"
for name in requirements requirements-kserve requirements-mlserver; do
  "$tools/venv/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
    --no-emit-find-links --output-file "$name.lock" "$name.in"
  echo "lock_requirements: $(grep -c '==' "$name.lock") packages pinned in scripts/$name.lock"
done
