#!/usr/bin/env python3
"""Compiles the test models (tools/make_test_models.py's manifest) into AOT packages for the AOT
backend's tests, at batch sizes 1 and 4 (so that a batch of 5 is split and one of 2 is padded):
every SavedModel (OUTPUT_DIR/<model>.aot) and, for the frozen-graph path and its tensor names, the
frozen graphs of FROZEN_FAMILIES (OUTPUT_DIR/<model>.frozen.aot). OUTPUT_DIR/index.json lists the
packages and, for a model XLA cannot compile, why. The MLP is also compiled for x86-64-v3 and
x86-64-v4 in one package (OUTPUT_DIR/mlp.levels.aot, index "multi_level").

Usage: make_aot_models.py MODELS_DIR OUTPUT_DIR [--target-cpu LEVEL] (compile_aot.py's levels; default x86-64-v3)
"""
import argparse
import concurrent.futures
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).parent))
import compile_aot  # noqa: E402

BATCH_SIZES = (1, 4)
FROZEN_FAMILIES = ("mlp", "multi_io", "lstm")  # lstm: TF1 loops, through tf1_control_flow.py
# One package with a library for each of two levels, whatever --target-cpu says: the loader's
# choice between them is tested on every host (AVX-512 or not).
MULTI_LEVEL = ("mlp", "mlp.levels.aot", "x86-64-v3,x86-64-v4")


def main():
    parser = argparse.ArgumentParser(description="Compiles every test model family into an AOT package.")
    parser.add_argument("models", type=Path, help="build/models (tools/make_test_models.py)")
    parser.add_argument("output", type=Path)
    parser.add_argument("--target-cpu", default=compile_aot.DEFAULT_CPU_LEVEL)
    args = parser.parse_args()
    models, output = args.models, args.output
    output.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((models / "manifest.json").read_text())
    index = {"batch_sizes": list(BATCH_SIZES), "target_cpu": compile_aot.resolve_cpu_level(args.target_cpu)[0], "packages": {}, "refused": {}, "frozen_packages": {}}
    started = time.monotonic()
    log = lambda message: print(f"make_aot_models: {message}", flush=True)  # noqa: E731
    pending = []
    # The C++ compile and link of one model overlaps the XLA compilation of the next.
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, (os.cpu_count() or 2) - 1)) as linker:
        for model in manifest["models"]:
            name = model["name"]
            sources = [("saved_model", ".aot", "packages")]
            if name in FROZEN_FAMILIES:
                sources.append(("frozen_graph", ".frozen.aot", "frozen_packages"))
            for format_name, suffix, compiled in sources:
                if format_name not in model["formats"]:
                    continue
                try:
                    future = compile_aot.compile_model(models / model["formats"][format_name]["path"],
                                                       output / f"{name}{suffix}", BATCH_SIZES,
                                                       target_cpu=args.target_cpu, log=log, linker=linker)
                    pending.append((future, compiled, name, f"{name}{suffix}"))
                except compile_aot.CompileError as error:
                    if format_name != "saved_model":
                        raise
                    index["refused"][name] = str(error)
        name, package, levels = MULTI_LEVEL
        future = compile_aot.compile_model(models / "mlp" / "saved_model", output / package, BATCH_SIZES,
                                           target_cpu=levels, log=log, linker=linker)
        pending.append((future, "multi_level", name, package))
        for future, compiled, name, package in pending:
            future.result()  # a failed link is an error of the build, not a refusal
            if compiled == "multi_level":
                index["multi_level"] = {"family": name, "package": package, "levels": levels.split(",")}
            else:
                index[compiled][name] = package
    (output / "index.json").write_text(json.dumps(index, indent=2))
    print(f"make_aot_models: {len(index['packages'])} packages, {len(index['frozen_packages'])} from frozen graphs, "
          f"{len(index['refused'])} refused: {sorted(index['refused'])} ({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
