#!/usr/bin/env python3
"""tools/host_memory_programs.py on a program whose weights are parameters (compile_xla.py
--weights parameters --pinned-host-io): only the inputs move to pinned host memory, the weights'
parameters stay in device memory (no attribute, no placement call), every result moves, and the
rewritten program still serializes as a portable artifact. The CPU plugin refuses such programs,
so what the CUDA plugin would run is checked here as text. Exit status 0 when all holds.

usage: pinned_host_weights_test.py SAVED_MODEL (the MLP test model: one input, one output)
"""
import os
import re
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import compile_xla  # noqa: E402
from host_memory_programs import PINNED_HOST, in_pinned_host_memory  # noqa: E402


def check(condition, what):
    """Fails the test with `what` (not `assert`, which python -O drops)."""
    if not condition:
        sys.exit(f"pinned_host_weights_test: FAILED: {what}")


def main():
    source = compile_xla.ModelSource(sys.argv[1], "serving_default")
    check(source.choose_weight_layout("parameters") == "parameters", "the MLP's weights can be parameters")
    _, text = compile_xla.stablehlo_program(source, 2, "highest")
    arguments = compile_xla.main_argument_types(text)
    check(len(arguments) > 1, f"expected the input and the weights as parameters, got {arguments}")

    rewritten = in_pinned_host_memory(text, inputs=True, input_count=1)
    header = next(line for line in rewritten.splitlines() if "@main(" in line)
    pinned = re.findall(r"(%arg\d+): tensor<[^>]*> " + re.escape(PINNED_HOST), header)
    check(pinned == ["%arg0"], f"only the input belongs in pinned host memory: {pinned}")
    to_device = rewritten.count('_xla_buffer_placement = "device"')
    to_host = rewritten.count('_xla_buffer_placement = "pinned_host"')
    check((to_device, to_host) == (1, 1), f"one input moved in, one output moved out: {to_device}, {to_host}")
    check(header.endswith(f"-> (tensor<2x8xf32> {PINNED_HOST}) {{"), header)

    everything = in_pinned_host_memory(text, inputs=True)
    check(everything.count('_xla_buffer_placement = "device"') == len(arguments), "input_count=None moves them all")

    from tensorflow.compiler.mlir.stablehlo import stablehlo
    check(bool(stablehlo.serialize_portable_artifact_str(rewritten, compile_xla.STABLEHLO_TARGET)),
          "the rewritten program serializes")
    print(f"pinned_host_weights_test: 1 of {len(arguments)} parameters in pinned host memory, as expected")


if __name__ == "__main__":
    main()
