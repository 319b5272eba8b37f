"""All-or-nothing output directories for the compilers (compile_xla.py, compile_aot.py).

A compile writes into a fresh directory beside its output and only a complete one takes the
output's place: a compile that fails leaves no half-written artifact, and one that succeeds over an
earlier artifact leaves none of the earlier files behind (programs of batch sizes no longer
compiled, libraries of CPU levels no longer built). An existing output is replaced only if it is
empty or an artifact of the same format, never another directory a mistyped -o names.
"""
import contextlib
import json
import secrets
import shutil
from pathlib import Path

from model_source import fail


def check_replaceable(output, artifact_format):
    """Fails unless `output` is absent, an empty directory or an artifact of `artifact_format`
    (its manifest.json says so)."""
    output = Path(output)
    if not output.exists() and not output.is_symlink():
        return
    if output.is_symlink() or not output.is_dir():
        fail(f"output '{output}' exists and is not a directory; choose another path")
    if not any(output.iterdir()):
        return
    try:
        found = json.loads((output / "manifest.json").read_text()).get("format")
    except (OSError, ValueError, AttributeError):
        found = None
    if found != artifact_format:
        what = f"a {found} artifact" if isinstance(found, str) else "no manifest.json of that format"
        fail(f"output '{output}' exists and is not a {artifact_format} artifact ({what}); refusing to replace it: "
             "remove it or choose another path")


def sibling(output, role):
    """A new directory beside `output` (the umask's permissions, as the artifact's should be)."""
    while True:
        path = output.parent / f".{output.name}.{role}-{secrets.token_hex(4)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
        except OSError as error:
            fail(f"cannot write beside output '{output}': {error.strerror}")


@contextlib.contextmanager
def staged_directory(output, artifact_format):
    """Yields an empty directory beside `output` to write the artifact into. When the block ends
    normally the directory replaces `output`; when it raises, it is removed and `output` is left as
    it was."""
    output = Path(output)
    check_replaceable(output, artifact_format)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        fail(f"cannot create the folder of output '{output}': {error.strerror}")
    staging = sibling(output, "new")
    try:
        yield staging
        check_replaceable(output, artifact_format)  # nothing else took the path meanwhile
        if not output.exists():
            staging.rename(output)
            return
        retired = sibling(output, "old")
        output.rename(retired / output.name)
        try:
            staging.rename(output)
        except BaseException:
            (retired / output.name).rename(output)
            raise
        finally:
            shutil.rmtree(retired, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
