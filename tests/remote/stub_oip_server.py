#!/usr/bin/env python3
"""A small Open Inference Protocol server for the remote backend's tests: well-behaved models to
test the client's own logic (pooling, failover, encodings) and hostile ones whose replies are
malformed, truncated, oversized, slow or not HTTP at all. Standard library only.

    stub_oip_server.py [--port P] [--ipv6] [--tls CERT KEY [--client-ca CA]] [--token-file FILE]
        prints "port N" on stdout once it listens on 127.0.0.1 (--ipv6: ::1); with --tls it speaks HTTPS with
        that certificate chain and key (and with --client-ca demands a client certificate signed
        by CA); with --token-file every /v2/models request must carry "Authorization: Bearer T",
        T the file's contents now (read at each request, so a test can rotate it), else HTTP 401

Models (every one takes input "x", FP32 [-1, 4], and answers output "y" = 2 * x, FP32 [-1, 4],
unless its name says otherwise):
    double         well-behaved; binary extension and JSON
    json_only      refuses the binary extension with HTTP 422, as MLServer does
    slow           answers after 3 s
    unavailable    HTTP 503
    bad_request    HTTP 400 with a protocol error body
    garbage_json   200 with a body that is not JSON
    deep_json      200 with JSON nested 100 000 levels deep
    truncated      announces a longer body than it sends, then closes
    oversized      announces and streams 64 MiB
    huge_shape     a shape whose element count overflows 64 bits
    short_binary   binary_data_size larger than the bytes that follow
    bad_header     Inference-Header-Content-Length that is not a number
    header_beyond  Inference-Header-Content-Length beyond the body
    wrong_dtype    the output comes back as INT32
    wrong_count    JSON data with one value too few
    bad_bool       a BOOL output holding the byte 7 (model "bool_model": input FP32, output BOOL)
    not_http       answers with bytes that are not HTTP
    close          closes the connection without answering
    close_delimited  a JSON reply with no length, ended by closing the connection (over TLS without
                   close_notify: indistinguishable from a reply cut short)
    moody          behaves as the model MOODS[first input value] (0: double, 1: slow, ...), so that
                   one client can be served well and then badly on the same connections
    versioned      versions 1 (y = 2 * x) and 2 (y = 3 * x); without a version in the URL, the
                   latest (2), as Triton's default version policy serves

Every model answers under /v2/models/NAME and /v2/models/NAME/versions/VERSION for each of its
versions (only "1" unless said otherwise); another version is HTTP 404.
"""
import argparse
import json
import socket
import ssl
import struct
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SHAPE_IN = [-1, 4]
MODELS = ["double", "json_only", "slow", "unavailable", "bad_request", "garbage_json", "deep_json", "truncated",
          "oversized", "huge_shape", "short_binary", "bad_header", "header_beyond", "wrong_dtype", "wrong_count",
          "bad_bool", "not_http", "close", "close_delimited", "moody", "versioned"]
VERSIONS = {"versioned": ["1", "2"]}
FACTORS = {("versioned", "1"): 2.0, ("versioned", "2"): 3.0}
TOKEN_FILE = None  # --token-file
MOODS = ["double", "slow", "truncated", "close", "not_http", "garbage_json", "oversized", "unavailable"]


def versions_of(name):
    return VERSIONS.get(name, ["1"])


def route(path):
    """(model, version, action) for /v2/models/NAME[/versions/V][/ACTION], the version resolved to
    the latest when the path names none; None for any other path, an unknown model or version."""
    parts = path.strip("/").split("/")
    if len(parts) < 3 or parts[:2] != ["v2", "models"] or parts[2] not in MODELS:
        return None
    name, rest = parts[2], parts[3:]
    version = versions_of(name)[-1]
    if rest[:1] == ["versions"]:
        if len(rest) < 2 or rest[1] not in versions_of(name):
            return None
        version, rest = rest[1], rest[2:]
    if len(rest) > 1:
        return None
    return name, version, rest[0] if rest else ""


def metadata(name, version):
    out_type = "BOOL" if name == "bad_bool" else "FP32"
    return {"name": name, "versions": [version], "platform": "stub",
            "inputs": [{"name": "x", "datatype": "FP32", "shape": SHAPE_IN}],
            "outputs": [{"name": "y", "datatype": out_type, "shape": SHAPE_IN}]}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes

    def log_message(self, *args):
        pass

    def send_body(self, status, body, headers=()):
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status, value):
        self.send_body(status, json.dumps(value).encode(), [("Content-Type", "application/json")])

    def refuse_without_token(self):
        """True (having answered 401) when a token is required and the request lacks the current one."""
        if TOKEN_FILE is None or not self.path.startswith("/v2/models"):
            return False
        with open(TOKEN_FILE) as file:
            expected = "Bearer " + file.read().strip()
        if self.headers.get("Authorization") == expected:
            return False
        if self.command == "POST":
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_body(401, json.dumps({"error": "a valid bearer token is required"}).encode(),
                       [("Content-Type", "application/json"), ("WWW-Authenticate", "Bearer")])
        return True

    def do_GET(self):
        if self.refuse_without_token():
            return
        found = route(self.path)
        if self.path == "/v2/health/ready" or self.path == "/v2/health/live":
            self.send_json(200, {"ready": True})
        elif found and found[2] == "":
            self.send_json(200, metadata(found[0], found[1]))
        elif found and found[2] == "ready":
            self.send_json(200, {"name": found[0], "ready": True})
        else:
            self.send_json(404, {"error": f"no {self.path}"})

    def read_request(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        header_length = self.headers.get("Inference-Header-Content-Length")
        if header_length is None:
            return json.loads(body), b""
        header_length = int(header_length)
        return json.loads(body[:header_length]), body[header_length:]

    def do_POST(self):
        if self.refuse_without_token():
            return
        found = route(self.path)
        if not found or found[2] != "infer":
            self.send_json(404, {"error": f"no {self.path}"})
            return
        name, version = found[0], found[1]
        request, binary = self.read_request()
        binary_in = "binary_data_size" in (request["inputs"][0].get("parameters") or {})
        if name == "json_only" and binary_in:
            self.send_json(422, {"error": "binary data is not supported"})
            return
        tensor = request["inputs"][0]
        shape = tensor["shape"]
        if binary_in:
            values = list(struct.unpack(f"<{len(binary) // 4}f", binary))
        else:
            values = tensor["data"]
        if name == "moody":
            name = MOODS[int(values[0]) % len(MOODS)] if values else "double"
        doubled = [FACTORS.get((name, version), 2.0) * v for v in values]
        binary_out = any((o.get("parameters") or {}).get("binary_data") for o in request.get("outputs", []))
        reply = {"model_name": name, "model_version": version, "id": request.get("id", ""),
                 "outputs": [{"name": "y", "datatype": "FP32", "shape": shape}]}

        if name == "slow":
            time.sleep(3)
        if name == "unavailable":
            self.send_json(503, {"error": "overloaded"})
            return
        if name == "bad_request":
            self.send_json(400, {"error": "input 'x' is bad"})
            return
        if name == "garbage_json":
            self.send_body(200, b"{not json at all", [("Content-Type", "application/json")])
            return
        if name == "deep_json":
            self.send_body(200, b"[" * 100000 + b"]" * 100000, [("Content-Type", "application/json")])
            return
        if name == "truncated":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'{"outputs": [')
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if name == "oversized":
            self.send_response(200)
            self.send_header("Content-Length", str(64 << 20))
            self.end_headers()
            chunk = b" " * (1 << 20)
            try:
                for _ in range(64):
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True
            return
        if name == "not_http":
            self.wfile.write(b"\x00\x01\x02 definitely not HTTP\r\n\r\n")
            self.close_connection = True
            return
        if name == "close":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if name == "huge_shape":
            reply["outputs"][0]["shape"] = [2 ** 62, 2 ** 62]
            reply["outputs"][0]["data"] = [1.0]
            self.send_json(200, reply)
            return
        if name == "wrong_dtype":
            reply["outputs"][0]["datatype"] = "INT32"
            reply["outputs"][0]["data"] = [int(v) for v in doubled]
            self.send_json(200, reply)
            return
        if name == "wrong_count":
            reply["outputs"][0]["data"] = doubled[:-1]
            self.send_json(200, reply)
            return
        if name == "close_delimited":
            reply["outputs"][0]["data"] = doubled
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(json.dumps(reply).encode())
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)  # over TLS: no close_notify
            return
        if name == "bad_bool":
            reply["outputs"][0]["datatype"] = "BOOL"
            raw = bytes([7] * len(doubled))
            reply["outputs"][0]["parameters"] = {"binary_data_size": len(raw)}
            self.send_binary(reply, raw)
            return
        if name in ("short_binary", "bad_header", "header_beyond") or binary_out:
            raw = struct.pack(f"<{len(doubled)}f", *doubled)
            size = len(raw) + 16 if name == "short_binary" else len(raw)
            reply["outputs"][0]["parameters"] = {"binary_data_size": size}
            header_value = {"bad_header": "twelve", "header_beyond": str(10 ** 9)}.get(name)
            self.send_binary(reply, raw, header_value)
            return
        reply["outputs"][0]["data"] = doubled
        self.send_json(200, reply)

    def send_binary(self, reply, raw, header_value=None):
        header = json.dumps(reply).encode()
        self.send_body(200, header + raw,
                       [("Inference-Header-Content-Length", header_value or str(len(header))),
                        ("Content-Type", "application/octet-stream")])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--client-ca")
    parser.add_argument("--ipv6", action="store_true")
    parser.add_argument("--token-file")
    args = parser.parse_args()
    global TOKEN_FILE
    TOKEN_FILE = args.token_file
    ThreadingHTTPServer.request_queue_size = 256  # many pooled connections open at once
    if args.ipv6:
        ThreadingHTTPServer.address_family = socket.AF_INET6
    server = ThreadingHTTPServer(("::1" if args.ipv6 else "127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    if args.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*args.tls)
        if args.client_ca:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(args.client_ca)
        # The handshake happens on the connection's own thread, at its first read: one client that
        # never completes it must not stall the accepting thread.
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    print(f"port {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
