#include "hepinfer/core/file_read.h"

#include <fstream>
#include <iterator>

#include "hepinfer/core/error.h"

namespace hepinfer {
namespace {

namespace fs = std::filesystem;

const char* kind_of(fs::file_type type) {
  switch (type) {
    case fs::file_type::directory: return "a directory";
    case fs::file_type::character: return "a character device";
    case fs::file_type::block: return "a block device";
    case fs::file_type::fifo: return "a FIFO (named pipe)";
    case fs::file_type::socket: return "a socket";
    default: return "not a regular file";
  }
}

}  // namespace

void check_regular_file(const fs::path& path, const std::string& what) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);  // follows symbolic links
  if (ec || !fs::exists(status)) throw FileNotFoundError(what + " '" + path.string() + "' does not exist");
  if (!fs::is_regular_file(status)) {
    throw InvalidArgumentError(what + " '" + path.string() + "' is " + kind_of(status.type()) +
                               ", not a regular file");
  }
}

std::string read_regular_file(const fs::path& path, const std::string& what) {
  check_regular_file(path, what);
  std::ifstream file(path, std::ios::binary);
  if (!file) throw FileNotFoundError("cannot read " + what + " '" + path.string() + "'");
  std::string contents{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
  if (file.bad()) throw FileNotFoundError("cannot read " + what + " '" + path.string() + "': read error");
  return contents;
}

}  // namespace hepinfer
