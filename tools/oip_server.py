#!/usr/bin/env python3
"""A KServe (0.21) model server serving TensorFlow models over the Open Inference Protocol.

The test and benchmark peer of hepinfer's C++ Open Inference Protocol (KServe v2 REST) client.
Run it with the Python of the separate environment .venv-kserve (scripts/setup_kserve.sh);
scripts/serve_oip.sh starts it in the background and waits until it is ready.

  .venv-kserve/bin/python tools/oip_server.py --model PATH --name NAME [--model PATH2 --name NAME2 ...]
      [--http-port 8080] [--host 127.0.0.1] [--grpc-port N] [--signature serving_default]
      [--delay-ms N] [--intra-op-threads N] [--inter-op-threads N] [--verbose]

--model and --name pair up by position: the i-th --name names the i-th --model. Without any
--name, a model is named after its file or directory (without ".pb").

Model kinds (told apart by the path):
  * a SavedModel directory (it has saved_model.pb): loaded with tf.saved_model.load; the V2 tensors
    are the inputs and outputs of one signature (--signature, "serving_default" by default), named
    by the signature's keys, with the signature's shapes (-1 for an unknown dimension);
  * a frozen GraphDef file (a serialized tf.compat.v1.GraphDef, usually *.pb): imported into a graph
    run by a tf.compat.v1.Session; the inputs are its Placeholder nodes and the outputs the nodes
    whose outputs no node consumes (Const, NoOp, Assert and the like left out), each named by its
    node name (":0" left off; a node's further outputs are "NODE:1", ...).

Protocol: the KServe v2 REST endpoints (/v2/health/ready, /v2/models/NAME, /v2/models/NAME/ready,
/v2/models/NAME/infer, ...), with Triton's binary tensor extension on inputs and outputs. An output is
binary when its own "parameters": {"binary_data": true} says so or, lacking that, the request's
"parameters": {"binary_data_output": true} does. A zero-row batch answers zero-row outputs. Where
KServe 0.21 itself is looser than Triton, this script tightens it (see _strict_from_bytes,
_decode_inference_request, _validation_error):
  * a body without Content-Type: application/json and without Inference-Header-Content-Length is
    JSON as a whole (as tritonclient.http sends it; KServe alone answers 400);
  * binary_data_size must match each input's datatype and shape, and the sizes must add up to the
    body (KServe alone truncates or ignores the difference);
  * a body that is not a valid inference request answers 400 {"error": ...} (FastAPI: 422).
Errors: unknown model 404; unknown or missing input, wrong datatype or shape, bad binary framing,
unknown requested output, FP16 data in JSON (either way: KServe supports FP16 in binary only), inputs
TensorFlow rejects -> 400; other TensorFlow failures 500; versioned URLs 501.

The server listens on --host only (127.0.0.1 by default): KServe itself binds REST to 0.0.0.0 and
gRPC to [::], so this script hands the host to uvicorn (_LoopbackRESTServer) and to grpc.aio
(_LoopbackAio). gRPC (KServe's V2 gRPC service) is off unless --grpc-port is given.
When ready it prints "oip_server: serving NAME1, NAME2 on http://HOST:PORT" to stderr.
"""

import argparse
import asyncio
import logging
import os
import sys
import time
import uuid
import warnings


def parse_args(argv):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", required=True, metavar="PATH",
                   help="a SavedModel directory or a frozen GraphDef file (repeatable)")
    p.add_argument("--name", action="append", default=[], metavar="NAME",
                   help="the model name of the --model at the same position (repeatable)")
    p.add_argument("--http-port", type=int, default=8080, help="HTTP port (default 8080)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address the HTTP server binds (default 127.0.0.1: loopback only)")
    p.add_argument("--grpc-port", type=int, default=0,
                   help="also serve KServe's V2 gRPC service on this port of --host "
                        "(default 0: gRPC off)")
    p.add_argument("--workers", type=int, default=1, help="uvicorn workers; only 1 is supported")
    p.add_argument("--signature", default="serving_default",
                   help="SavedModel signature key (default serving_default)")
    p.add_argument("--delay-ms", type=float, default=0.0,
                   help="sleep this long (asyncio.sleep) in every inference, for timeout tests")
    p.add_argument("--intra-op-threads", type=int, default=0,
                   help="TensorFlow intra-op threads (default 0: TensorFlow's choice)")
    p.add_argument("--inter-op-threads", type=int, default=0,
                   help="TensorFlow inter-op threads (default 0: TensorFlow's choice)")
    p.add_argument("--verbose", action="store_true",
                   help="keep uvicorn's access log and KServe's per-request latency lines")
    a = p.parse_args(argv)
    if a.workers != 1:
        p.error("--workers: only 1 is supported (the models are loaded in this process)")
    if a.name and len(a.name) != len(a.model):
        p.error(f"{len(a.model)} --model but {len(a.name)} --name: give one --name per --model, or none")
    if not a.name:
        a.name = [os.path.basename(os.path.normpath(m)).removesuffix(".pb") for m in a.model]
    if len(set(a.name)) != len(a.name):
        p.error(f"model names must differ: {a.name}")
    if a.delay_ms < 0:
        p.error("--delay-ms must be >= 0")
    return a


ARGS = parse_args(sys.argv[1:])
# kserve.model_server parses sys.argv with parse_known_args when it is imported, and would take
# our options for abbreviations of its own (--model for --model_name, ...): hide them from it.
sys.argv = sys.argv[:1]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
import numpy as np  # noqa: E402
import orjson  # noqa: E402
import tensorflow as tf  # noqa: E402
import kserve  # noqa: E402
import kserve.model_server  # noqa: E402
import kserve.protocol.grpc.server as kserve_grpc_server  # noqa: E402
from fastapi.exceptions import RequestValidationError  # noqa: E402
from fastapi.responses import JSONResponse  # noqa: E402
from kserve.constants.constants import INFERENCE_CONTENT_LENGTH_HEADER  # noqa: E402
from kserve.errors import InferenceError, InvalidInput  # noqa: E402
from kserve.logging import logger as kserve_logger  # noqa: E402
from kserve.protocol.dataplane import DataPlane  # noqa: E402
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse, RequestedOutput  # noqa: E402
from kserve.protocol.rest.server import RESTServer  # noqa: E402
from kserve.utils.numpy_codec import to_np_dtype  # noqa: E402

if ARGS.intra_op_threads:
    tf.config.threading.set_intra_op_parallelism_threads(ARGS.intra_op_threads)
if ARGS.inter_op_threads:
    tf.config.threading.set_inter_op_parallelism_threads(ARGS.inter_op_threads)

# TensorFlow dtype -> V2 datatype. bfloat16 has no numpy/KServe counterpart, and is refused.
_V2_TYPES = {
    tf.bool: "BOOL", tf.int8: "INT8", tf.int16: "INT16", tf.int32: "INT32", tf.int64: "INT64",
    tf.uint8: "UINT8", tf.uint16: "UINT16", tf.uint32: "UINT32", tf.uint64: "UINT64",
    tf.float16: "FP16", tf.float32: "FP32", tf.float64: "FP64", tf.string: "BYTES",
}


def _v2_datatype(dtype, what):
    try:
        return _V2_TYPES[tf.as_dtype(dtype).base_dtype]
    except KeyError:
        raise SystemExit(f"oip_server: {what} has dtype {tf.as_dtype(dtype).name}, "
                         "which has no Open Inference Protocol datatype here") from None


def _v2_shape(shape):
    shape = tf.TensorShape(shape)
    if shape.rank is None:
        return [-1]  # unknown rank: V2 has no way to say it; any shape is accepted
    return [-1 if d is None else int(d) for d in shape.as_list()]


class TensorSpec:
    def __init__(self, name, dtype, shape, what):
        self.name = name
        self.datatype = _v2_datatype(dtype, what)
        self.shape = _v2_shape(shape)
        self.known_rank = tf.TensorShape(shape).rank is not None
        self.np_dtype = np.dtype(object) if self.datatype == "BYTES" else tf.as_dtype(dtype).as_numpy_dtype

    def metadata(self):
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


class SavedModelRunner:
    kind = "SavedModel"

    def __init__(self, path, signature):
        self._loaded = tf.saved_model.load(path)  # kept: the signature needs its variables alive
        signatures = self._loaded.signatures
        if signature not in signatures:
            raise SystemExit(f"oip_server: {path} has no signature {signature!r}; "
                             f"it has {sorted(signatures.keys())}")
        self._fn = signatures[signature]
        args, kwargs = self._fn.structured_input_signature
        if args:
            raise SystemExit(f"oip_server: signature {signature!r} of {path} has positional inputs")
        # Listed by name: the signature's own order is not its definition order.
        self.inputs = [TensorSpec(k, s.dtype, s.shape, f"input {k}") for k, s in sorted(kwargs.items())]
        outputs = self._fn.structured_outputs
        if not isinstance(outputs, dict):
            raise SystemExit(f"oip_server: signature {signature!r} of {path} does not return a dict")
        self.outputs = [TensorSpec(k, s.dtype, s.shape, f"output {k}") for k, s in sorted(outputs.items())]

    def may_leave_unfed(self, name):
        return False

    def run(self, feeds, wanted):
        result = self._fn(**{k: tf.constant(v) for k, v in feeds.items()})
        return {k: result[k].numpy() for k in wanted}


# Node types that are never a model output although nothing consumes them.
_NOT_OUTPUTS = {"Placeholder", "PlaceholderWithDefault", "Const", "NoOp", "Assert", "Print",
                "PrintV2", "VarHandleOp", "VariableV2", "Variable", "SaveV2", "RestoreV2"}


class FrozenGraphRunner:
    kind = "GraphDef"

    def __init__(self, path):
        graph_def = tf.compat.v1.GraphDef()
        with open(path, "rb") as f:
            graph_def.ParseFromString(f.read())
        self._graph = tf.Graph()
        with self._graph.as_default():
            tf.compat.v1.import_graph_def(graph_def, name="")
        ops = self._graph.get_operations()
        placeholders = [op for op in ops if op.type == "Placeholder"]
        if not placeholders:
            raise SystemExit(f"oip_server: {path} has no Placeholder node")
        self.inputs, self._feeds = [], {}
        for op in placeholders:
            t = op.outputs[0]
            if tf.as_dtype(t.dtype).base_dtype not in _V2_TYPES:
                # e.g. the variant "unused_control_flow_input" of frozen Keras RNNs: never fed.
                print(f"oip_server: {path}: placeholder {op.name} ({tf.as_dtype(t.dtype).name}) is left out",
                      file=sys.stderr)
                continue
            self.inputs.append(TensorSpec(op.name, t.dtype, t.shape, f"input {op.name}"))
            self._feeds[op.name] = t
        self.outputs, self._fetches = [], {}
        for op in ops:
            if op.type in _NOT_OUTPUTS or not op.outputs:
                continue
            if any(t.consumers() for t in op.outputs):
                continue
            for i, t in enumerate(op.outputs):
                if tf.as_dtype(t.dtype).base_dtype not in _V2_TYPES:
                    continue
                name = op.name if i == 0 else f"{op.name}:{i}"
                self.outputs.append(TensorSpec(name, t.dtype, t.shape, f"output {name}"))
                self._fetches[name] = t
        if not self.outputs:
            raise SystemExit(f"oip_server: {path} has no output node")
        config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=ARGS.intra_op_threads,
                                          inter_op_parallelism_threads=ARGS.inter_op_threads)
        self._session = tf.compat.v1.Session(graph=self._graph, config=config)

    def may_leave_unfed(self, name):
        return True

    def run(self, feeds, wanted):
        values = self._session.run([self._fetches[k] for k in wanted],
                                   feed_dict={self._feeds[k]: v for k, v in feeds.items()})
        return dict(zip(wanted, values))


def load_runner(path, signature):
    if os.path.isdir(path):
        if not os.path.exists(os.path.join(path, "saved_model.pb")):
            raise SystemExit(f"oip_server: {path} is a directory without saved_model.pb")
        kind = SavedModelRunner
    elif os.path.isfile(path):
        kind = FrozenGraphRunner
    else:
        raise SystemExit(f"oip_server: no such model: {path}")
    try:
        return kind(path, signature) if kind is SavedModelRunner else kind(path)
    except SystemExit:
        raise
    except Exception as e:
        raise SystemExit(f"oip_server: cannot load {path} as a {kind.kind}: "
                         f"{type(e).__name__}: {_first_line(e)}") from None


class TFModel(kserve.Model):
    def __init__(self, name, path, signature, delay_s):
        super().__init__(name)
        self.path = path
        self.signature = signature
        self.delay_s = delay_s
        self.runner = None
        self.load()

    def load(self):
        self.runner = load_runner(self.path, self.signature)
        self._inputs = {s.name: s for s in self.runner.inputs}
        self._outputs = {s.name: s for s in self.runner.outputs}
        self.ready = True
        return self.ready

    def get_input_types(self):
        return [s.metadata() for s in self.runner.inputs]

    def get_output_types(self):
        return [s.metadata() for s in self.runner.outputs]

    def _feeds(self, request):
        feeds, seen = {}, set()
        for inp in request.inputs:
            spec = self._inputs.get(inp.name)
            if spec is None:
                raise InvalidInput(f"unexpected input '{inp.name}' for model '{self.name}'; "
                                   f"it has {list(self._inputs)}")
            if inp.name in seen:
                raise InvalidInput(f"input '{inp.name}' given twice")
            seen.add(inp.name)
            if inp.datatype != spec.datatype:
                raise InvalidInput(f"input '{inp.name}' has datatype {inp.datatype}, "
                                   f"model '{self.name}' expects {spec.datatype}")
            shape = list(inp.shape)
            if spec.known_rank and (len(shape) != len(spec.shape) or any(
                    want not in (-1, got) for want, got in zip(spec.shape, shape))):
                raise InvalidInput(f"input '{inp.name}' has shape {shape}, "
                                   f"model '{self.name}' expects {spec.shape}")
            if any((not isinstance(d, int)) or d < 0 for d in shape):
                raise InvalidInput(f"input '{inp.name}' has an invalid shape {shape}")
            try:
                array = inp.as_numpy()
            except (ValueError, TypeError, OverflowError) as e:
                raise InvalidInput(f"input '{inp.name}': data does not match datatype "
                                   f"{inp.datatype} and shape {shape}: {e}") from None
            if spec.datatype != "BYTES" and array.dtype != spec.np_dtype:
                array = array.astype(spec.np_dtype)
            feeds[inp.name] = array
        # A frozen graph may list placeholders its outputs do not need (Keras RNNs leave
        # "unused_control_flow_input*" ones); TensorFlow itself refuses a run that needs one unfed.
        missing = [n for n in self._inputs if n not in feeds and not self.runner.may_leave_unfed(n)]
        if missing:
            raise InvalidInput(f"model '{self.name}' is missing input(s) {missing}")
        return feeds

    def _run(self, feeds, wanted):
        try:
            return self.runner.run(feeds, wanted)
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as e:
            if any(a.ndim and a.shape[0] == 0 for a in feeds.values()):
                return self._empty(feeds, wanted)
            raise InvalidInput(f"model '{self.name}' rejected the inputs: {_first_line(e)}") from None
        except tf.errors.OpError as e:
            raise InferenceError(f"model '{self.name}' failed: {_first_line(e)}") from None

    def _empty(self, feeds, wanted):
        """Zero-row outputs, for a zero-row batch that TensorFlow would not run."""
        out = {}
        for name in wanted:
            spec = self._outputs[name]
            shape = [0] + [max(d, 0) for d in spec.shape[1:]]
            out[name] = np.zeros(shape, dtype=spec.np_dtype)
        return out

    async def predict(self, payload, headers=None, response_headers=None):
        if not isinstance(payload, InferRequest):
            raise InvalidInput("this server speaks the Open Inference Protocol (V2) only")
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        feeds = self._feeds(payload)

        request_binary = bool(payload.use_binary_outputs)
        if payload.request_outputs:
            requested = []
            for r in payload.request_outputs:
                if r.name not in self._outputs:
                    raise InvalidInput(f"unexpected requested output '{r.name}' for model "
                                       f"'{self.name}'; it has {list(self._outputs)}")
                binary = r.binary_data if r.binary_data is not None else request_binary
                requested.append(RequestedOutput(r.name, {**(r.parameters or {}),
                                                          "binary_data": bool(binary)}))
            wanted = list(dict.fromkeys(r.name for r in requested))
        else:
            requested = None
            wanted = list(self._outputs)
        binary_of = {r.name: r.binary_data for r in requested} if requested else {}

        results = await asyncio.get_running_loop().run_in_executor(None, self._run, feeds, wanted)

        outputs = []
        for name in wanted:
            spec = self._outputs[name]
            array = np.asarray(results[name])
            if spec.datatype == "BYTES":
                array = array.astype(object)
            out = InferOutput(name=name, shape=list(array.shape), datatype=spec.datatype)
            out.set_data_from_numpy(array, binary_data=binary_of.get(name, request_binary))
            outputs.append(out)
        return InferResponse(response_id=payload.id or str(uuid.uuid4()), model_name=self.name,
                             infer_outputs=outputs, use_binary_outputs=request_binary,
                             requested_outputs=requested)


def _first_line(e):
    """The informative part of an error's message, on one line (TensorFlow's graph execution errors
    start with "Graph execution error:" and a stack-trace preamble)."""
    text = getattr(e, "message", None) or str(e)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    useful = [ln for ln in lines if ln != "Graph execution error:" and not ln.startswith(
        ("Detected at node", "<stack traces unavailable>", "[[", "File \""))]
    text = " ".join(useful or lines)
    return (text[:500] + "...") if len(text) > 500 else (text or type(e).__name__)


class _LoopbackRESTServer(RESTServer):
    """KServe's RESTServer with the uvicorn bind address taken from --host.

    KServe 0.21 hard-codes host="0.0.0.0" in RESTServer.__init__ (kserve/protocol/rest/server.py)
    and has no option for it; the uvicorn.Config it builds is only read when the server starts, so
    setting config.host here, before ModelServer.start() serves, changes where it listens."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.config.host = ARGS.host

    def _add_exception_handlers(self, app):
        super()._add_exception_handlers(app)
        if not ARGS.verbose:
            # KServe logs a full traceback for every 400; one line is enough for a test peer.
            app.add_exception_handler(InvalidInput, _quiet_invalid_input)


async def _quiet_invalid_input(_request, exc):
    kserve_logger.warning("400: %s", exc)
    return JSONResponse(status_code=400, content={"error": str(exc)})


_kserve_from_bytes = InferRequest.from_bytes.__func__


def _strict_from_bytes(cls, req_bytes, json_length, model_name):
    """InferRequest.from_bytes with the binary framing checked first.

    KServe 0.21 slices each binary input by its binary_data_size without checking that the sizes
    match the body, the datatype and the shape (a too-large size is silently truncated, trailing
    bytes are ignored) and answers 500 for a header without "inputs". A strict peer catches client
    bugs, so this answers 400 for any of them."""
    if json_length < 0 or json_length > len(req_bytes):
        raise InvalidInput(f"Inference-Header-Content-Length {json_length} is outside the body "
                           f"of {len(req_bytes)} bytes")
    try:
        header = orjson.loads(req_bytes[:json_length])
    except orjson.JSONDecodeError as e:
        raise InvalidInput(f"the JSON header is not valid JSON: {e}") from None
    if not isinstance(header, dict) or not isinstance(header.get("inputs"), list):
        raise InvalidInput('the JSON header has no "inputs" list')
    total = 0
    for inp in header["inputs"]:
        if not isinstance(inp, dict) or not all(k in inp for k in ("name", "shape", "datatype")):
            raise InvalidInput('every input needs "name", "shape" and "datatype"')
        params = inp.get("parameters") or {}
        if "data" in inp or "binary_data_size" not in params:
            continue
        size, shape, datatype = params["binary_data_size"], inp["shape"], inp["datatype"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidInput(f"input '{inp['name']}': binary_data_size must be a count of bytes")
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise InvalidInput(f"input '{inp['name']}': invalid shape {shape}")
        dtype = to_np_dtype(datatype)
        if dtype is None:
            raise InvalidInput(f"input '{inp['name']}': unknown datatype {datatype}")
        if datatype != "BYTES":
            expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
            if size != expected:
                raise InvalidInput(f"input '{inp['name']}': binary_data_size {size} does not match "
                                   f"{datatype} {shape} ({expected} bytes)")
        total += size
    if total != len(req_bytes) - json_length:
        raise InvalidInput(f"the body has {len(req_bytes) - json_length} bytes after the JSON header, "
                           f"the inputs' binary_data_size add up to {total}")
    return _kserve_from_bytes(cls, req_bytes, json_length, model_name)


InferRequest.from_bytes = classmethod(_strict_from_bytes)

_kserve_decode_inference_request = DataPlane.decode_inference_request


def _decode_inference_request(self, body, headers, model_name):
    """A body that is not JSON-typed and has no Inference-Header-Content-Length is JSON as a whole,
    as Triton's binary extension defines (tritonclient.http sends JSON requests with no
    Content-Type); KServe 0.21 would refuse it with 400 "header is missing"."""
    if isinstance(body, bytes):
        value = headers.get(INFERENCE_CONTENT_LENGTH_HEADER)
        if value is None:
            headers = {**headers, INFERENCE_CONTENT_LENGTH_HEADER: str(len(body))}
        elif not value.strip().isdigit():
            raise InvalidInput(f"Inference-Header-Content-Length is not a byte count: {value!r}")
    return _kserve_decode_inference_request(self, body, headers, model_name)


DataPlane.decode_inference_request = _decode_inference_request


async def _validation_error(_request, exc):
    """A JSON body that is not a valid inference request: 400 with the protocol's {"error": ...}
    (FastAPI's default is 422 {"detail": [...]})."""
    errors = exc.errors()
    first = errors[0] if errors else {}
    where = ".".join(str(x) for x in first.get("loc", ()))
    return JSONResponse(status_code=400, content={
        "error": f"invalid inference request: {first.get('msg', 'invalid')} at {where}".strip()})


class _LoopbackAio:
    """Stands in for grpc.aio in kserve.protocol.grpc.server, whose GRPCServer.start() listens on
    "[::]:PORT" (every interface) with no option for it: the servers it makes listen on --host."""

    def __getattr__(self, name):
        return getattr(_grpc_aio, name)

    @staticmethod
    def server(*args, **kwargs):
        server = _grpc_aio.server(*args, **kwargs)
        add_insecure_port = server.add_insecure_port
        host = f"[{ARGS.host}]" if ":" in ARGS.host else ARGS.host
        server.add_insecure_port = lambda address: add_insecure_port(
            address.replace("[::]:", f"{host}:", 1))
        return server


_grpc_aio = kserve_grpc_server.aio
kserve_grpc_server.aio = _LoopbackAio()


def _announce_when_listening(line, host, port):
    """Prints the one ready line once the port accepts connections. (A handler on uvicorn's logger
    is not enough: KServe reconfigures logging when it starts, which drops such handlers.)"""
    import socket
    import threading

    def poll():
        while True:
            try:
                socket.create_connection((host, port), timeout=1).close()
            except OSError:
                time.sleep(0.05)
                continue
            print(line, file=sys.stderr, flush=True)
            return

    threading.Thread(target=poll, daemon=True).start()


def main():
    started = time.monotonic()
    models = [TFModel(name, path, ARGS.signature, ARGS.delay_ms / 1000.0)
              for path, name in zip(ARGS.model, ARGS.name)]
    # ModelServer.start() builds its RESTServer through this module-level name.
    kserve.model_server.RESTServer = _LoopbackRESTServer
    kserve.model_server.app.add_exception_handler(RequestValidationError, _validation_error)
    server = kserve.ModelServer(
        http_port=ARGS.http_port, grpc_port=ARGS.grpc_port or 8081, workers=1,
        enable_grpc=ARGS.grpc_port > 0, enable_docs_url=False,
        enable_latency_logging=ARGS.verbose)
    if not ARGS.verbose:
        # uvicorn's access log and KServe's timing middleware write lines for every request.
        logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
        logging.getLogger("kserve.trace").setLevel(logging.WARNING)
    # FastAPI 0.165 warns once that KServe's app uses ORJSONResponse; nothing to act on here.
    warnings.filterwarnings("ignore", message="ORJSONResponse is deprecated")
    shown = "[%s]" % ARGS.host if ":" in ARGS.host else ARGS.host
    kserve_logger.info("oip_server: models loaded in %.1f s", time.monotonic() - started)
    line = f"oip_server: serving {', '.join(ARGS.name)} on http://{shown}:{ARGS.http_port}"
    _announce_when_listening(line, ARGS.host, ARGS.http_port)
    server.start(models)


if __name__ == "__main__":
    main()
