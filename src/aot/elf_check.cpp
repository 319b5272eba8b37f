#include "elf_check.h"

#include <elf.h>

#include <cstring>
#include <fstream>
#include <vector>

#include "hepinfer/core/error.h"

namespace hepinfer::aot::detail {

void check_loadable_elf(const std::filesystem::path& library, const std::string& what) {
  const auto fail = [&](const std::string& why) {
    throw InvalidModelError(what + ": library '" + library.string() + "' " + why);
  };
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(library, ec);
  if (ec) fail("cannot be read");
  std::ifstream file(library, std::ios::binary);
  Elf64_Ehdr header{};
  if (!file.read(reinterpret_cast<char*>(&header), sizeof(header))) fail("is too short for an ELF header");
  if (std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0) fail("is not an ELF file");
  if (header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_machine != EM_X86_64 || header.e_type != ET_DYN) {
    fail("is not a 64-bit x86-64 shared object");
  }
  if (header.e_phentsize != sizeof(Elf64_Phdr) || header.e_phnum == 0 ||
      header.e_phoff + std::uintmax_t{header.e_phnum} * sizeof(Elf64_Phdr) > size) {
    fail("has program headers outside the file (truncated or damaged)");
  }
  std::vector<Elf64_Phdr> segments(header.e_phnum);
  file.seekg(static_cast<std::streamoff>(header.e_phoff));
  if (!file.read(reinterpret_cast<char*>(segments.data()),
                 static_cast<std::streamsize>(segments.size() * sizeof(Elf64_Phdr)))) {
    fail("has unreadable program headers");
  }
  for (const Elf64_Phdr& segment : segments) {
    if ((segment.p_type == PT_LOAD || segment.p_type == PT_DYNAMIC) &&
        (segment.p_offset > size || segment.p_filesz > size - segment.p_offset)) {
      fail("is " + std::to_string(size) + " bytes long, but a segment reaches byte " +
           std::to_string(segment.p_offset + segment.p_filesz) + " (truncated)");
    }
  }
}

}  // namespace hepinfer::aot::detail
