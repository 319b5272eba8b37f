#pragma once
// Reading a whole file that a user named. Only regular files are read: a device (/dev/zero),
// FIFO or socket would be read forever or block, and a directory has no contents to read.

#include <filesystem>
#include <string>

namespace hepinfer {

// The contents of the regular file at `path`. `what` says what the file should be ("a .npy
// file", "workflow file") for the messages. Throws FileNotFoundError if nothing is at `path` or
// it cannot be read, InvalidArgumentError naming the kind of thing `path` is otherwise.
std::string read_regular_file(const std::filesystem::path& path, const std::string& what);

// Throws as read_regular_file does, without reading.
void check_regular_file(const std::filesystem::path& path, const std::string& what);

}  // namespace hepinfer
