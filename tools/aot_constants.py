"""A package's weights without tfcompile's padding. tfcompile writes each constant of a compiled
function (the weights, baked in) into b<batch>_constants.o as a 64-byte header holding the data's
size, then the data, the whole padded with zeros to the next power of two and aligned to that size;
the section takes the largest alignment. A 16 MiB weight matrix so takes 32 MiB, and sits on a
32 MiB boundary: a package of 36 MB of weights at three batch sizes was 341 MB. The code reads only
the header and the data (the generated header's EmbeddedConstantBuffers), so `compact` writes the
same symbols with what is read, each on its own page, into a new object the package links instead.

An object this does not recognise (relocations, other symbols, a header that does not fit its
symbol) is linked as tfcompile wrote it.
"""
import struct
import subprocess
from pathlib import Path

HEADER_BYTES = 64
SYMBOL_SUFFIX = "_constant_buffer_contents"
PAGE = 4096
ELF_MAGIC = b"\x7fELF\x02\x01"  # 64-bit, little-endian
SECTION_PROGBITS, SECTION_SYMTAB, SECTION_RELA, SECTION_REL = 1, 2, 4, 9
SECTION_LOADED = 0x2  # SHF_ALLOC
SYMBOL_NONE, SYMBOL_OBJECT, SYMBOL_SECTION, SYMBOL_FILE = 0, 1, 3, 4


def _string(table, offset):
    return table[offset:table.index(b"\0", offset)].decode()


def constant_symbols(data):
    """[(name, file offset, bytes read)] of an object holding only tfcompile's constants, else None."""
    if not data.startswith(ELF_MAGIC):
        return None
    section_offset, = struct.unpack_from("<Q", data, 0x28)
    entry_size, count, names_index = struct.unpack_from("<HHH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, section_offset + i * entry_size) for i in range(count)]
    if any(section[1] in (SECTION_RELA, SECTION_REL) for section in sections):
        return None
    symbol_tables = [section for section in sections if section[1] == SECTION_SYMTAB]
    if len(symbol_tables) != 1:
        return None
    _, _, _, _, table_offset, table_size, strings_index, _, _, symbol_size = symbol_tables[0]
    strings = data[sections[strings_index][4]:sections[strings_index][4] + sections[strings_index][5]]
    found, holding = [], set()
    for offset in range(table_offset, table_offset + table_size, symbol_size):
        name_offset, info, _, section_index, value, size = struct.unpack_from("<IBBHQQ", data, offset)
        name = _string(strings, name_offset)
        kind = info & 0xf
        if kind in (SYMBOL_SECTION, SYMBOL_FILE) or (kind == SYMBOL_NONE and not name):
            continue
        if kind != SYMBOL_OBJECT or not name.endswith(SYMBOL_SUFFIX) or not 0 < section_index < len(sections) \
                or sections[section_index][1] != SECTION_PROGBITS:
            return None
        start = sections[section_index][4] + value
        data_bytes, = struct.unpack_from("<Q", data, start)
        if HEADER_BYTES + data_bytes > size or start + size > len(data):
            return None
        found.append((name, start, HEADER_BYTES + data_bytes))
        holding.add(section_index)
    # Every section loaded with contents must be one the constants are in (a compiler's comment,
    # never loaded, may be dropped).
    for index, section in enumerate(sections):
        if section[1] == SECTION_PROGBITS and section[2] & SECTION_LOADED and section[5] > 0 and index not in holding:
            return None
    return found or None


def compact(constants_object, cxx, log):
    """The object to link in place of `constants_object`: a compacted copy next to it, or the
    object itself when it is not what tfcompile writes or the copy would not be smaller."""
    source = Path(constants_object)
    data = source.read_bytes()
    symbols = constant_symbols(data)
    if symbols is None:
        return source
    compacted_bytes = sum((length + PAGE - 1) // PAGE * PAGE for _, _, length in symbols)
    if compacted_bytes >= len(data):
        return source
    assembly = source.with_suffix(".compact.s")
    lines = ['\t.section .rodata.hepinfer_constants,"a",@progbits']
    for name, start, length in symbols:
        lines += [f"\t.balign {PAGE}", f"\t.globl {name}", f"\t.type {name}, @object", f"\t.size {name}, {length}",
                  f"{name}:", f'\t.incbin "{source.resolve()}", {start}, {length}']
    lines.append('\t.section .note.GNU-stack,"",@progbits')
    assembly.write_text("\n".join(lines) + "\n")
    target = source.with_suffix(".compact.o")
    result = subprocess.run([cxx, "-c", str(assembly), "-o", str(target)], capture_output=True, text=True)
    if result.returncode != 0:
        log(f"linking the constants as tfcompile wrote them (compacting failed: "
            f"{(result.stderr.strip().splitlines() or ['no message'])[0]})")
        return source
    return target
