"""XLA's ahead-of-time runtime (the library every AOT-compiled function calls into: Eigen matmuls
and convolutions, sorting, the buffer and thunk helpers), built once per machine from the sources
the TensorFlow wheel ships (tensorflow/xla_aot_runtime_src, with their own CMakeLists.txt) and kept
in a cache, because building it takes minutes.

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

LIBRARY = "libtf_xla_runtime.a"


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


def runtime_key(sources, cpu_level, cxx):
    """What the built library depends on: the sources, the target CPU level and the compiler."""
    digest = hashlib.sha256()
    for file in sorted(p for p in sources.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(sources)).encode())
        digest.update(file.read_bytes())
    digest.update(cpu_level.encode())
    digest.update(compiler_identity(cxx).encode())
    return f"{cpu_level}-{digest.hexdigest()[:16]}"


def ensure_runtime(cpu_level, cxx, log):
    """The path of the runtime library for `cpu_level` (an -march value), built if not cached."""
    sources = tensorflow_directory() / "xla_aot_runtime_src"
    if not (sources / "CMakeLists.txt").is_file():
        fail(f"this TensorFlow wheel has no XLA AOT runtime sources ({sources}); AOT compilation needs TF >= 2.15")
    directory = cache_root() / runtime_key(sources, cpu_level, cxx)
    library = directory / LIBRARY
    if library.is_file():
        return library
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another compile may be building it
        if library.is_file():
            return library
        log(f"building XLA's AOT runtime for {cpu_level} once into {directory} (a few minutes)")
        with tempfile.TemporaryDirectory(dir=directory) as build:
            flags = f"-march={cpu_level} -D_GLIBCXX_USE_CXX11_ABI=1 -w"
            configure = ["cmake", "-S", str(sources), "-B", build, "-DCMAKE_BUILD_TYPE=Release",
                         "-DCMAKE_POSITION_INDEPENDENT_CODE=ON", "-DCMAKE_CXX_STANDARD=17",
                         f"-DCMAKE_CXX_COMPILER={shutil.which(cxx) or cxx}", f"-DCMAKE_CXX_FLAGS={flags}"]
            for command in (configure, ["cmake", "--build", build, "-j", str(os.cpu_count() or 1)]):
                result = subprocess.run(command, capture_output=True, text=True)
                if result.returncode != 0:
                    fail(f"building XLA's AOT runtime failed ({' '.join(command[:3])}): "
                         f"{(result.stderr or result.stdout).strip().splitlines()[-1:]}")
            shutil.move(str(Path(build) / LIBRARY), library.with_suffix(".tmp"))
            os.replace(library.with_suffix(".tmp"), library)
    return library
