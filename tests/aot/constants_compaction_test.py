#!/usr/bin/env python3
"""tools/aot_constants.py: objects laid out as tfcompile writes its constants (a 64-byte header
with the data's size, the data, zeros up to the next power of two, aligned to it) are rewritten
with the header and data alone, byte for byte, each on its own page; objects with anything else in
them (a relocation, a function) are left as they are. With a package directory as argument, also
checks that every constant in its library is compacted. Exit status 0 when all holds.

usage: constants_compaction_test.py [PACKAGE.aot]
"""
import random
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import aot_constants  # noqa: E402

CXX = "g++"


def tfcompile_like_object(directory, name, constants, extra=""):
    """An object with `constants` ({symbol: data bytes}) in tfcompile's layout, plus `extra` assembly."""
    lines = ["\t.section .rodata"]
    for symbol, data in constants.items():
        blob = directory / f"{symbol}.bin"
        blob.write_bytes(data)
        padded = 1 << (aot_constants.HEADER_BYTES + len(data) - 1).bit_length()
        lines += [f"\t.balign {padded}", f"\t.globl {symbol}", f"\t.type {symbol}, @object", f"\t.size {symbol}, {padded}",
                  f"{symbol}:", f"\t.quad {len(data)}", f"\t.zero {aot_constants.HEADER_BYTES - 8}",
                  f'\t.incbin "{blob}"', f"\t.zero {padded - aot_constants.HEADER_BYTES - len(data)}"]
    source = directory / f"{name}.s"
    source.write_text("\n".join(lines) + "\n" + extra)
    target = directory / f"{name}.o"
    subprocess.run([CXX, "-c", str(source), "-o", str(target)], check=True)
    return target


def read_constants(path):
    data = path.read_bytes()
    symbols = aot_constants.constant_symbols(data)
    return None if symbols is None else {name: data[start:start + length] for name, start, length in symbols}


def check_package(library):
    """Every constant in `library` is as long as its header says, not tfcompile's padded length."""
    data = library.read_bytes()
    section_offset, = struct.unpack_from("<Q", data, 0x28)
    entry_size, count, _ = struct.unpack_from("<HHH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, section_offset + i * entry_size) for i in range(count)]
    symbols = subprocess.run(["nm", "-S", str(library)], capture_output=True, text=True, check=True).stdout
    failures, checked = [], 0
    for fields in (line.split() for line in symbols.splitlines()):
        if len(fields) != 4 or not fields[3].endswith(aot_constants.SYMBOL_SUFFIX):
            continue
        address, size = int(fields[0], 16), int(fields[1], 16)
        section = next(s for s in sections if s[3] <= address < s[3] + s[5])
        header, = struct.unpack_from("<Q", data, section[4] + address - section[3])
        if size != aot_constants.HEADER_BYTES + header:
            failures.append(f"{library}: {fields[3]} is {size} bytes for {header} bytes of data")
        checked += 1
    return failures if checked else [f"{library} has no constants to check"]


def main():
    failures = []
    logged = []
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        rng = random.Random(3)
        constants = {f"__tfcompile_m_b1_Constant_{i}_constant_buffer_contents": rng.randbytes(size)
                     for i, size in enumerate((40_000, 70_000, 4, 2 ** 20))}
        original = tfcompile_like_object(directory, "b1_constants", constants)
        compacted = aot_constants.compact(original, CXX, logged.append)
        if compacted == original:
            failures.append(f"a tfcompile-like object was not compacted ({logged})")
        else:
            read = read_constants(compacted)
            expected = {name: len(data).to_bytes(8, "little") + bytes(aot_constants.HEADER_BYTES - 8) + data
                        for name, data in constants.items()}
            if read != expected:
                failures.append("the compacted constants differ from the header and data written")
            if compacted.stat().st_size * 2 > original.stat().st_size:
                failures.append(f"compacting saved little: {original.stat().st_size} -> {compacted.stat().st_size} bytes")
            starts = [start for _, start, _ in aot_constants.constant_symbols(compacted.read_bytes())]
            if any(start % 64 for start in starts):
                failures.append(f"a compacted constant's data is not 64-byte aligned in the file: {starts}")

        # Anything but constants (a relocation, a function) and the object is linked as it is.
        for kind, extra in (("relocation", "\t.data\nslot:\n\t.quad __tfcompile_x_constant_buffer_contents\n"),
                            ("function", "\t.text\n\t.globl helper\n\t.type helper, @function\nhelper:\n\tret\n")):
            other = tfcompile_like_object(directory, kind, {"__tfcompile_x_constant_buffer_contents": bytes(5000)}, extra)
            if aot_constants.compact(other, CXX, logged.append) != other:
                failures.append(f"an object with a {kind} was rewritten")
        not_elf = directory / "not_elf.o"
        not_elf.write_bytes(b"not an object")
        if aot_constants.compact(not_elf, CXX, logged.append) != not_elf:
            failures.append("a file that is not an ELF object was rewritten")

    if len(sys.argv) > 1:
        failures += check_package(Path(sys.argv[1]) / "model.so")

    for failure in failures:
        print(f"FAIL: {failure}")
    print("constants compaction:", "wrong" if failures else "as expected")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
