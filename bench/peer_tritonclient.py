#!/usr/bin/env python3
"""The Python peer of bench_remote: Triton's Python HTTP client (tritonclient.http, gevent) against
the same server and model, N requests in flight at once (async_infer), binary tensors both ways.
Run with the KServe environment's Python (.venv-kserve has tritonclient).

usage: peer_tritonclient.py HOST:PORT MODEL OUT.json [--seconds S] [--rows N] [--concurrency N]
"""
import argparse
import json
import time

import numpy as np
import tritonclient.http as httpclient


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("server")
    parser.add_argument("model")
    parser.add_argument("out")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    client = httpclient.InferenceServerClient(url=args.server, concurrency=args.concurrency)
    metadata = client.get_model_metadata(args.model)
    spec = metadata["inputs"][0]
    features = [d for d in spec["shape"][1:]]
    data = np.random.default_rng(7).random((args.rows, *features), dtype=np.float32)

    def request():
        tensor = httpclient.InferInput(spec["name"], list(data.shape), spec["datatype"])
        tensor.set_data_from_numpy(data, binary_data=True)
        outputs = [httpclient.InferRequestedOutput(o["name"], binary_data=True) for o in metadata["outputs"]]
        return client.async_infer(args.model, [tensor], outputs=outputs)

    request().get_result()  # connections warm
    done, started = 0, time.perf_counter()
    in_flight = [request() for _ in range(args.concurrency)]
    while time.perf_counter() - started < args.seconds:
        in_flight.pop(0).get_result()
        done += 1
        in_flight.append(request())
    for pending in in_flight:
        pending.get_result()
        done += 1
    elapsed = time.perf_counter() - started
    client.close()
    result = {"client": f"tritonclient.http {httpclient.__name__}", "concurrency": args.concurrency,
              "rows": args.rows, "requests": done, "seconds": elapsed, "requests_per_second": done / elapsed}
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
