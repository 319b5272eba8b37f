#!/usr/bin/env python3
"""Serves the model repository tests/remote/mlserver_double (the model "double", version "1": input "x",
FP32 [-1, 4], output "y" = 2 * x) with Seldon MLServer on 127.0.0.1:PORT, for the remote backend's tests: a second,
real Open Inference Protocol server, which speaks V2 REST JSON only (it refuses Triton's binary tensor
extension, so the client has to fall back to JSON).

    PYTHON tests/remote/serve_mlserver.py --port P [--timeout S]

PYTHON is the Python of .venv-mlserver (scripts/setup_mlserver.sh). Once GET /v2/models/double/ready
answers 200 it prints one line, "mlserver: serving double on http://127.0.0.1:P", on stdout. If that
does not happen within S seconds (default 90), or the server stops first (port taken, model failed to
load), it exits non-zero; MLServer's log has gone to stdout/stderr already.

MLServer runs inside this process: settings.json of the repository with parallel_workers 0 (no worker
processes), the REST port from --port, gRPC on an ephemeral loopback port (grpc_port 0), no metrics
server. Everything binds 127.0.0.1. No files are written (the repository's settings.json is read, not
changed, and importing runtime.py leaves no bytecode cache), so SIGKILL of the process or its group
leaves nothing behind. SIGTERM or SIGINT stops MLServer gracefully (gRPC's grace period is 5 s) and
exits 0.
"""
import argparse
import asyncio
import http.client
import json
import os
import sys
import time

sys.dont_write_bytecode = True  # runtime.py is imported from the source tree: write no __pycache__ there

HOST = "127.0.0.1"
MODEL = "double"
REPOSITORY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mlserver_double")


def model_ready(port):
    connection = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        connection.request("GET", f"/v2/models/{MODEL}/ready")
        response = connection.getresponse()
        response.read()
        return response.status == 200
    except OSError:
        return False
    finally:
        connection.close()


async def announce_when_ready(port, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(model_ready, port):
            print(f"mlserver: serving {MODEL} on http://{HOST}:{port}", flush=True)
            return True
        await asyncio.sleep(0.1)
    print(f"serve_mlserver: model {MODEL} not ready on {HOST}:{port} after {timeout} s", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(1)  # MLServer may be stuck; nothing to clean up, no files were written


async def serve(port, timeout):
    from mlserver import MLServer
    from mlserver.repository import ModelRepositoryFactory
    from mlserver.settings import Settings

    with open(os.path.join(REPOSITORY, "settings.json")) as file:
        config = json.load(file)
    # Keyword arguments win over MLSERVER_* environment variables: loopback and this port, always.
    config.update(host=HOST, http_port=port, model_repository_root=REPOSITORY)
    settings = Settings(**config)
    sys.path.insert(0, REPOSITORY)  # model-settings.json names its implementation runtime.DoubleModel
    models = await ModelRepositoryFactory.resolve_model_repository(settings).list()
    if [model.name for model in models] != [MODEL]:
        print(f"serve_mlserver: {REPOSITORY} holds {[m.name for m in models]}, not [{MODEL!r}]", file=sys.stderr)
        return 1
    server = MLServer(settings)  # installs its SIGINT/SIGTERM/SIGQUIT handlers (graceful stop)
    announcer = asyncio.create_task(announce_when_ready(port, timeout))
    await server.start(models)  # returns once the servers have stopped
    if announcer.done() and announcer.result():
        return 0
    announcer.cancel()
    print("serve_mlserver: MLServer stopped before the model was ready", file=sys.stderr, flush=True)
    return 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="REST port on 127.0.0.1")
    parser.add_argument("--timeout", type=float, default=90, help="seconds to wait for readiness (default 90)")
    args = parser.parse_args()
    if not 0 < args.port < 65536:
        parser.error(f"--port {args.port} is not a TCP port")

    from mlserver.logging import configure_logger
    from mlserver.utils import install_uvloop_event_loop

    configure_logger()  # as `mlserver start` does
    install_uvloop_event_loop()
    try:
        return asyncio.run(serve(args.port, args.timeout))
    except SystemExit as stop:  # uvicorn exits 1 when it cannot bind the port
        print(f"serve_mlserver: MLServer exited ({stop.code})", file=sys.stderr, flush=True)
        return stop.code if isinstance(stop.code, int) and stop.code else 1


if __name__ == "__main__":
    sys.exit(main())
