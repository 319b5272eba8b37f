"""XLA's ahead-of-time runtime (the library every AOT-compiled function calls into: Eigen matmuls
and convolutions, sorting, the buffer and thunk helpers), built once per machine from the sources
the TensorFlow wheel ships (tensorflow/xla_aot_runtime_src, with their own CMakeLists.txt) and kept
in a cache, because building it takes minutes (~10 on 2 cores for all of it). It is built in two
parts: the core every model needs (float matrix products, 2-D float convolutions, sorting, the
thunk helpers), and the rest (half-precision, complex and integer matrix products, 3-D and
half-precision convolutions: 8 of the 21 sources, most of the build time), built only when a
package's link names one of its functions. In the core, the float matrix product is hepinfer's
(src/aot/runtime/matmul_f32.cc: the same Eigen kernel, with the weights packed once instead of at
every call) in place of the wheel's dot_lib_f32.cc, and the core also has the float -> bfloat16
conversions XLA's JIT defines for itself (src/aot/runtime/bfloat16_truncation.cc; libgcc has them
only from GCC 13 on). Next to them, with g++, a precompiled header
of what every generated function header includes (abseil, XlaCompiledCpuFunction: ~290 000
lines), which halves the time to compile a package's wrapper.

The cache is $HEPINFER_AOT_RUNTIME_CACHE, else $XDG_CACHE_HOME/hepinfer/aot-runtime, else
~/.cache/hepinfer/aot-runtime; one directory per TensorFlow version, target CPU level and
compiler. Concurrent compiles wait for one build (a file lock).
"""
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from model_source import fail

LIBRARY = "libtf_xla_runtime.a"  # the core
EXTRA_LIBRARY = "libtf_xla_runtime_extra.a"
# The sources of the part built on demand, by file name.
EXTRA_SOURCES = r"(convolution_lib_f16_2d|convolution_lib_f16_3d|convolution_lib_f32_3d|dot_lib_c64|dot_lib_c128|" \
                r"dot_lib_f16|dot_lib_s8|dot_lib_s32)\.cc$"
# hepinfer's sources in the core: its float matrix product, which replaces the wheel's
# (dot_lib_f32.cc), and the bfloat16 conversions; with their headers.
OWN_SOURCES = ("matmul_f32.cc", "bfloat16_truncation.cc")
OWN_FILES = (*OWN_SOURCES, "matmul_f32.h", "bfloat16_truncation.h")
# Builds one part of the runtime like the wheel's CMakeLists does, from a subset of its sources.
PART_CMAKELISTS = """cmake_minimum_required(VERSION 3.16)
project(hepinfer_xla_aot_runtime CXX)
file(GLOB_RECURSE sources "${RUNTIME_SOURCES}/*.cc")
list(FILTER sources ${PART} REGEX "${EXTRA_SOURCES}")
if(PART STREQUAL "EXCLUDE")
  list(FILTER sources EXCLUDE REGEX "/dot_lib_f32[.]cc$")
  list(APPEND sources ${OWN_SOURCES})
endif()
add_library(part STATIC ${sources})
target_include_directories(part PRIVATE "${RUNTIME_SOURCES}/../include")
target_compile_options(part PRIVATE -ftemplate-backtrace-limit=0 -Wno-ignored-attributes -Wno-deprecated-copy
                       -Wno-cast-qual -Wno-sign-compare)
# With AVX-512 on, Eigen's AVX-512 packing and TensorFlow's spatial-convolution packing both
# specialise gemm_pack_rhs for image patches and the convolutions do not compile (ambiguous
# instantiation); they are built with AVX2 (x86-64-v3), the matrix products keep AVX-512.
if(CMAKE_CXX_FLAGS MATCHES "x86-64-v4|avx512")
  set(convolutions ${sources})
  list(FILTER convolutions INCLUDE REGEX "convolution_lib_[^/]*[.]cc$")
  set_source_files_properties(${convolutions} PROPERTIES COMPILE_OPTIONS "-mno-avx512f")
endif()
"""
# What every header tfcompile generates includes; precompiled once per runtime.
COMMON_HEADER = "aot_common.h"
COMMON_INCLUDES = ["absl/log/check.h", "absl/synchronization/blocking_counter.h",
                   "xla/backends/cpu/runtime/kernel_c_api.h", "xla/types.h",
                   "tensorflow/compiler/tf2xla/xla_compiled_cpu_function.h", "tensorflow/core/platform/types.h"]


def wrapper_flags(cpu_level):
    """How package wrappers are compiled; the precompiled header is built with the same flags."""
    return ["-std=c++17", "-O2", f"-march={cpu_level}", "-fPIC", "-fvisibility=hidden", "-D_GLIBCXX_USE_CXX11_ABI=1",
            "-w", "-I", str(tensorflow_directory() / "include")]


def cache_root():
    if os.environ.get("HEPINFER_AOT_RUNTIME_CACHE"):
        return Path(os.environ["HEPINFER_AOT_RUNTIME_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "hepinfer" / "aot-runtime"


def tensorflow_directory():
    """The installed tensorflow package's directory (found, not imported)."""
    import importlib.util
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or not spec.submodule_search_locations:
        fail("this Python has no TensorFlow; run scripts/setup.sh or set HEPINFER_PYTHON")
    return Path(spec.submodule_search_locations[0])


def compiler_identity(cxx):
    try:
        return subprocess.run([cxx, "--version"], capture_output=True, text=True, check=True).stdout.splitlines()[0]
    except (OSError, subprocess.CalledProcessError) as error:
        fail(f"the C++ compiler '{cxx}' does not run ({error}); set CXX or pass --cxx")


def find_own_sources():
    """The directory of hepinfer's runtime sources (OWN_FILES): next to this script when installed
    or copied to a build tree, else src/aot/runtime."""
    here = Path(__file__).resolve().parent
    for directory in (here, here.parent / "src" / "aot" / "runtime"):
        if all((directory / name).is_file() for name in OWN_FILES):
            return directory
    fail(f"cannot find {', '.join(OWN_FILES)} next to {__file__} or in the source tree")


def runtime_key(sources, cpu_level, cxx):
    """What the built library depends on: the sources (the wheel's and hepinfer's own),
    the target CPU level and the compiler."""
    digest = hashlib.sha256(PART_CMAKELISTS.encode())
    for file in sorted(p for p in sources.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(sources)).encode())
        digest.update(file.read_bytes())
    own = find_own_sources()
    for name in OWN_FILES:
        digest.update(name.encode())
        digest.update((own / name).read_bytes())
    digest.update(cpu_level.encode())
    digest.update(compiler_identity(cxx).encode())
    return f"{cpu_level}-{digest.hexdigest()[:16]}"


class Runtime:
    """The built runtime: `library` (its core) to link, `common_header` to -include (None without a
    precompiled header), and `extra_library()`, the rest, built on first use."""

    def __init__(self, library, common_header, sources, cpu_level, cxx, log):
        self.library = library
        self.common_header = common_header
        self._part = (sources, library.parent, cpu_level, cxx, log)

    def extra_library(self):
        sources, directory, cpu_level, cxx, log = self._part
        extra = directory / EXTRA_LIBRARY
        if not extra.is_file():
            with open(directory / ".lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not extra.is_file():
                    build_part(sources, directory, "INCLUDE", EXTRA_LIBRARY, cpu_level, cxx, log)
        return extra


def ensure_runtime(cpu_level, cxx, log):
    """The runtime for `cpu_level` (an -march value), built if not cached."""
    sources = tensorflow_directory() / "xla_aot_runtime_src"
    if not (sources / "CMakeLists.txt").is_file():
        fail(f"this TensorFlow wheel has no XLA AOT runtime sources ({sources}); AOT compilation needs TF >= 2.15")
    directory = cache_root() / runtime_key(sources, cpu_level, cxx)
    library = directory / LIBRARY
    header = directory / COMMON_HEADER
    gcc = "clang" not in compiler_identity(cxx).lower()  # clang's precompiled headers work differently
    precompiled, failed = header.with_suffix(".h.gch"), directory / (COMMON_HEADER + ".failed")
    ready = library.is_file() and (not gcc or precompiled.is_file() or failed.is_file())
    if not ready:
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another compile may be building it
            if not library.is_file():
                build_part(sources, directory, "EXCLUDE", LIBRARY, cpu_level, cxx, log)
            if gcc and not precompiled.is_file() and not failed.is_file():
                build_common_header(directory, cpu_level, cxx)
    return Runtime(library, header if precompiled.is_file() else None, sources, cpu_level, cxx, log)


def configure_command(sources, build, part, cpu_level, cxx, *extra):
    """Writes the CMake project of one part under `build` and returns the command configuring it
    into `build`/out."""
    project = build / "project"
    project.mkdir(exist_ok=True)
    (project / "CMakeLists.txt").write_text(PART_CMAKELISTS)
    flags = f"-march={cpu_level} -D_GLIBCXX_USE_CXX11_ABI=1 -w"
    return ["cmake", "-S", str(project), "-B", str(build / "out"), "-DCMAKE_BUILD_TYPE=Release",
            "-DCMAKE_POSITION_INDEPENDENT_CODE=ON", "-DCMAKE_CXX_STANDARD=17",
            f"-DCMAKE_CXX_COMPILER={shutil.which(cxx) or cxx}", f"-DCMAKE_CXX_FLAGS={flags}",
            f"-DRUNTIME_SOURCES={sources}", f"-DPART={part}", f"-DEXTRA_SOURCES={EXTRA_SOURCES}",
            f"-DOWN_SOURCES={';'.join(str(find_own_sources() / name) for name in OWN_SOURCES)}", *extra]


def first_error(output):
    """The line of a compiler's or make's output that says what went wrong first: the first
    'error:' line (make's closing lines only say that a target failed), else the last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if "error:" in line.lower() or "fatal error" in line.lower()]
    return (errors or lines[-1:] or ["no output"])[0]


def build_part(sources, directory, part, name, cpu_level, cxx, log):
    """Builds the sources matching EXTRA_SOURCES (part INCLUDE) or the others (EXCLUDE) into `name`."""
    log(f"building {'the rest of ' if part == 'INCLUDE' else ''}XLA's AOT runtime for {cpu_level} once into "
        f"{directory} (minutes)")
    with tempfile.TemporaryDirectory(dir=directory) as build:
        configure = configure_command(sources, Path(build), part, cpu_level, cxx)
        build_command = ["cmake", "--build", str(Path(build) / "out"), "-j", str(os.cpu_count() or 1)]
        for command in (configure, build_command):
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                log_file = directory / f"{name}.failed.log"
                log_file.write_text(result.stdout + result.stderr)
                fail(f"building XLA's AOT runtime failed ({' '.join(command[:3])}): "
                     f"{first_error(result.stdout + result.stderr)} (whole log: {log_file})")
        target = directory / name
        shutil.move(str(Path(build) / "out" / "libpart.a"), target.with_suffix(".tmp"))
        os.replace(target.with_suffix(".tmp"), target)


def build_common_header(directory, cpu_level, cxx):
    header = directory / COMMON_HEADER
    header.write_text("".join(f'#include "{include}"\n' for include in COMMON_INCLUDES))
    partial = directory / (COMMON_HEADER + ".gch.tmp")
    result = subprocess.run([cxx, *wrapper_flags(cpu_level), "-x", "c++-header", str(header), "-o", str(partial)],
                            capture_output=True, text=True)
    if result.returncode == 0:
        os.replace(partial, header.with_suffix(".h.gch"))
    else:  # packages still compile, only slower; not tried again for this runtime
        partial.unlink(missing_ok=True)
        (directory / (COMMON_HEADER + ".failed")).write_text(result.stderr[-2000:])
