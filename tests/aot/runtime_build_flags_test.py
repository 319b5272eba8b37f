#!/usr/bin/env python3
"""How tools/aot_runtime.py compiles XLA's AOT runtime for each CPU level, checked by configuring
its CMake project (seconds; building it takes minutes): for x86-64-v4 the convolution sources are
compiled without AVX-512 (with it they do not compile: Eigen's and TensorFlow's packing both
specialise gemm_pack_rhs for image patches) and the matrix products with it; for x86-64-v3 no
source is treated apart; the core compiles hepinfer's float matrix product instead of the wheel's,
and hepinfer's bfloat16 conversions. Every part's sources are covered. A failed build is reported
by its first compiler error, a failed package link by the symbols it lacked. Exit status 0 when
all holds.

usage: runtime_build_flags_test.py
"""
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import aot_runtime  # noqa: E402
import compile_aot  # noqa: E402


def compile_commands(level, part):
    sources = aot_runtime.tensorflow_directory() / "xla_aot_runtime_src"
    with tempfile.TemporaryDirectory() as build:
        command = aot_runtime.configure_command(sources, Path(build), part, level, "g++",
                                                "-DCMAKE_EXPORT_COMPILE_COMMANDS=ON")
        subprocess.run(command, check=True, capture_output=True)
        entries = json.loads((Path(build) / "out" / "compile_commands.json").read_text())
    return {Path(entry["file"]).name: entry["command"] for entry in entries}


def main():
    failures = []
    for part in ("EXCLUDE", "INCLUDE"):
        v4, v3 = compile_commands("x86-64-v4", part), compile_commands("x86-64-v3", part)
        if set(v4) != set(v3) or not v4:
            failures.append(f"part {part}: the two levels compile different sources: {sorted(set(v4) ^ set(v3))}")
        for name, command in v4.items():
            convolution = name.startswith("convolution_lib_")
            if "-march=x86-64-v4" not in command:
                failures.append(f"{name}: not compiled for x86-64-v4: {command}")
            if convolution != ("-mno-avx512f" in command):
                failures.append(f"{name}: AVX-512 {'on' if convolution else 'off'} for x86-64-v4: {command}")
        for name, command in v3.items():
            if "-mno-avx512f" in command:
                failures.append(f"{name}: -mno-avx512f for x86-64-v3: {command}")
        if part == "EXCLUDE" and "convolution_lib_f32_2d.cc" not in v4:
            failures.append("the core part lacks convolution_lib_f32_2d.cc")
        # hepinfer's float matrix product replaces the wheel's, in the core only.
        if part == "EXCLUDE" and ("matmul_f32.cc" not in v4 or "dot_lib_f32.cc" in v4):
            failures.append(f"the core part does not compile matmul_f32.cc instead of dot_lib_f32.cc: {sorted(v4)}")
        if part == "INCLUDE" and ("matmul_f32.cc" in v4 or "dot_lib_f32.cc" in v4):
            failures.append(f"the rest compiles a float matrix product: {sorted(v4)}")
        if ("bfloat16_truncation.cc" in v4) != (part == "EXCLUDE"):
            failures.append(f"part {part}: bfloat16_truncation.cc belongs to the core alone: {sorted(v4)}")
    # A failed build is reported by its first compiler error, not by make's closing lines.
    output = ("[ 40%] Building CXX object conv.o\n/src/conv.cc:12:3: error: ambiguous template instantiation\n"
              "make[2]: *** [conv.o] Error 1\nmake: *** [all] Error 2\n")
    if aot_runtime.first_error(output) != "/src/conv.cc:12:3: error: ambiguous template instantiation":
        failures.append(f"a failed build is reported as '{aot_runtime.first_error(output)}'")
    if aot_runtime.first_error("ld: cannot find -lfoo\n") != "ld: cannot find -lfoo":
        failures.append("output without an error: line is not reported by its last line")
    # A failed link names the symbols it lacked (ld's 'collect2: error' line says only that it failed).
    link = ("/usr/bin/ld: b8.o: in function `f':\n(.text+0x53): undefined reference to `__truncsfbf2'\n"
            "/usr/bin/ld: b8.o: in function `g':\n(.text+0x54): undefined reference to `__truncsfbf2'\n"
            "collect2: error: ld returned 1 exit status\n")
    if not compile_aot.link_error(link).startswith("no definition of __truncsfbf2 ("):
        failures.append(f"a failed link is reported as '{compile_aot.link_error(link)}'")
    for failure in failures:
        print(f"FAIL: {failure}")
    print("runtime build flags:", "wrong" if failures else "as expected for x86-64-v3 and x86-64-v4")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
