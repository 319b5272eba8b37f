#!/usr/bin/env python3
"""Tuning of AOT packages (compile_aot.py --tune): for each batch size, XLA's code-generation
choices that measured faster for some models and slower for others are each compiled, timed on
this machine through the package interface (src/aot/package_abi.h), and the fastest is kept.

Measured on an Intel Xeon with AVX-512 (docs/aot.md, "Tuning"): 512-bit vectors made the MLP test
model's batch-1 call 20% faster and the DeepJet-like model's 40% slower; no single setting is
best for every model, so the choice is made per model and batch size by measuring.

Each candidate is compiled in a child process of its own (XLA reads XLA_FLAGS once per process) and
all candidates of one batch size are timed in one child process that imports no TensorFlow,
interleaved round by round so that the machine's drift affects them alike.

usage (the timing child): aot_tuning.py time SECONDS LIBRARY [LIBRARY ...]
  prints the median microseconds per call of each library's first function, as JSON
"""
import ctypes
import json
import os
import statistics
import subprocess
import sys
import time

# (name, XLA flags, CPU feature the candidate needs); the first is XLA's default.
CANDIDATES = [
    ("default", [], None),
    ("dot tiling 4", ["--xla_backend_extra_options=xla_llvm_dot_tiling_factor=4"], None),
    ("512-bit vectors", ["--xla_cpu_prefer_vector_width=512"], "avx512f"),
    ("512-bit vectors, dot tiling 4",
     ["--xla_cpu_prefer_vector_width=512", "--xla_backend_extra_options=xla_llvm_dot_tiling_factor=4"], "avx512f"),
]
# A candidate replaces XLA's default only when it is at least this much faster: closer than that,
# the order of two timings on a shared machine is noise.
MIN_GAIN = 0.03
# Seconds of timing per batch size, all candidates together, in this many interleaved rounds.
SECONDS = 2.0
ROUNDS = 15


def candidates_for(features):
    """The candidates a CPU level with `features` can run."""
    return [(name, flags) for name, flags, needs in CANDIDATES if needs is None or needs in features]


def _last_line(result):
    """A failed child's last non-empty line of error output, or its exit status."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {result.returncode}"


def compile_in_child(arguments, flags):
    """tfcompile (`arguments`: _pywrap_tfcompile.Compile's keywords) with `flags` added to XLA_FLAGS,
    in a child process; None on success, else the child's last line of error output."""
    environment = dict(os.environ, XLA_FLAGS=" ".join([os.environ.get("XLA_FLAGS", ""), *flags]).strip())
    program = "import json, sys\nfrom tensorflow.python import _pywrap_tfcompile\n" \
              "_pywrap_tfcompile.Compile(**json.loads(sys.argv[1]))\n"
    result = subprocess.run([sys.executable, "-c", program, json.dumps(arguments)], env=environment,
                            capture_output=True, text=True)
    return None if result.returncode == 0 else _last_line(result)


def time_libraries(libraries, seconds):
    """Median µs per call of each library's first compiled function, timed in a child process."""
    result = subprocess.run([sys.executable, __file__, "time", str(seconds), *map(str, libraries)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(_last_line(result))
    return json.loads(result.stdout)


# package_abi.h's table, field by field.
_FUNCTION = ctypes.c_void_p


class _Package(ctypes.Structure):
    _fields_ = [("abi_version", ctypes.c_int32), ("description", ctypes.c_char_p),
                ("batch_count", ctypes.c_int32), ("batch_sizes", ctypes.POINTER(ctypes.c_int64)),
                ("num_inputs", ctypes.c_int32), ("num_outputs", ctypes.c_int32),
                ("create", ctypes.CFUNCTYPE(_FUNCTION, ctypes.c_int32)),
                ("destroy", ctypes.CFUNCTYPE(None, _FUNCTION)),
                ("input_bytes", ctypes.CFUNCTYPE(ctypes.c_int64, _FUNCTION, ctypes.c_int32)),
                ("output_bytes", ctypes.CFUNCTYPE(ctypes.c_int64, _FUNCTION, ctypes.c_int32)),
                ("set_input", ctypes.CFUNCTYPE(None, _FUNCTION, ctypes.c_int32, ctypes.c_void_p)),
                ("run", ctypes.CFUNCTYPE(ctypes.c_int32, _FUNCTION)),
                ("error", ctypes.CFUNCTYPE(ctypes.c_char_p, _FUNCTION)),
                ("output", ctypes.CFUNCTYPE(ctypes.c_void_p, _FUNCTION, ctypes.c_int32))]


class _Timed:
    """One library's first function, its inputs zeros (valid for every dtype, ids included; dense
    and recurrent layers take as long on zeros as on anything else), ready to run."""

    def __init__(self, library):
        entry = getattr(ctypes.CDLL(library), "hepinfer_aot_package_v1")
        entry.restype = ctypes.POINTER(_Package)
        self.package = entry().contents
        self.function = self.package.create(0)
        if not self.function:
            raise RuntimeError(f"{library}: cannot create its function")
        self.buffers = []
        for index in range(self.package.num_inputs):
            size = self.package.input_bytes(self.function, index)
            buffer = ctypes.create_string_buffer(size + 64)
            address = (ctypes.addressof(buffer) + 63) // 64 * 64  # the interface wants 64-byte alignment
            self.buffers.append(buffer)
            self.package.set_input(self.function, index, address)
        self.run = self.package.run
        self.check()

    def check(self):
        if not self.run(self.function):
            raise RuntimeError(self.package.error(self.function).decode(errors="replace"))

    def calls_taking(self, seconds):
        """How many calls take about `seconds`."""
        calls, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            self.run(self.function)
            calls += 1
        return max(calls, 1)

    def per_call(self, calls):
        run, function = self.run, self.function
        started = time.perf_counter_ns()
        for _ in range(calls):
            run(function)
        return (time.perf_counter_ns() - started) / calls / 1000.0


def _time_main(seconds, libraries):
    timed = [_Timed(library) for library in libraries]
    slice_seconds = seconds / ROUNDS / len(timed)
    calls = [candidate.calls_taking(slice_seconds) for candidate in timed]  # also warms each up
    samples = [[] for _ in timed]
    for _ in range(ROUNDS):
        for index, candidate in enumerate(timed):
            samples[index].append(candidate.per_call(calls[index]))
    for candidate in timed:
        candidate.check()
    print(json.dumps([round(statistics.median(values), 3) for values in samples]))


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[1] != "time":
        print(__doc__.split("usage")[1].strip(), file=sys.stderr)
        sys.exit(2)
    try:
        _time_main(float(sys.argv[2]), sys.argv[3:])
    except Exception as error:  # one line for the parent
        print(f"aot_tuning: {error}", file=sys.stderr)
        sys.exit(1)
