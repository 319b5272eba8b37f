#pragma once
// Compiled XLA programs kept on disk, so that a job does not compile its models again at every
// start (compiling takes 50-350 ms per program; loading a cached one a few ms). An entry is found
// by a key that covers everything the compiled code depends on: the program's bytes, the compile
// options, the plugin build, and the device it was compiled for (for the CPU plugin, the host
// CPU's model and instruction sets, so a cache on a shared file system never hands code to a CPU
// that cannot run it). Entries carry a checksum: nothing truncated or edited reaches the plugin.

#include <filesystem>
#include <optional>
#include <string>

namespace hepinfer::xla::detail {

class ExecutableCache {
 public:
  // A cache in `directory`, created when first written; an empty path: no cache.
  explicit ExecutableCache(std::filesystem::path directory) : directory_(std::move(directory)) {}

  // $HEPINFER_XLA_CACHE ("off" or empty: none), else $XDG_CACHE_HOME/hepinfer/xla, else
  // $HOME/.cache/hepinfer/xla, else none.
  static std::filesystem::path default_directory();

  bool enabled() const { return !directory_.empty(); }
  const std::filesystem::path& directory() const { return directory_; }

  // The serialized executable stored under `key`, if present and intact.
  std::optional<std::string> find(const std::string& key) const;
  // Stores `serialized` under `key` (written to a temporary file, then renamed, so concurrent
  // processes never read half an entry). A cache that cannot be written is no error: returns false.
  bool store(const std::string& key, const std::string& serialized) const noexcept;

 private:
  std::filesystem::path entry_path(const std::string& key) const;
  std::filesystem::path directory_;
};

// 64-bit FNV-1a, as 16 hex digits: names entries and checks their contents (not a defence
// against deliberate tampering: whoever can write the cache can write the artifact too).
std::string fingerprint(const std::string& bytes);

// What the host CPU's compiled code depends on: its model name and instruction-set flags.
std::string host_cpu_identity();

}  // namespace hepinfer::xla::detail
