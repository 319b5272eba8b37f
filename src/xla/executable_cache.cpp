#include "executable_cache.h"

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <thread>

namespace hepinfer::xla::detail {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kMagic = "hepinfer-xla-executable 1\n";

std::string environment(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

}  // namespace

std::string fingerprint(const std::string& bytes) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (const unsigned char byte : bytes) {
    hash ^= byte;
    hash *= 1099511628211ULL;
  }
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(hash));
  return text;
}

std::string host_cpu_identity() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line, model, flags;
  while (std::getline(cpuinfo, line) && (model.empty() || flags.empty())) {
    if (model.empty() && line.rfind("model name", 0) == 0) model = line;
    if (flags.empty() && line.rfind("flags", 0) == 0) flags = line;
  }
  return model + "|" + fingerprint(flags);
}

fs::path ExecutableCache::default_directory() {
  if (const char* chosen = std::getenv("HEPINFER_XLA_CACHE"); chosen != nullptr) {
    const std::string value = chosen;
    return value.empty() || value == "off" ? fs::path() : fs::path(value);
  }
  if (const std::string xdg = environment("XDG_CACHE_HOME"); !xdg.empty()) return fs::path(xdg) / "hepinfer" / "xla";
  if (const std::string home = environment("HOME"); !home.empty()) return fs::path(home) / ".cache" / "hepinfer" / "xla";
  return {};
}

fs::path ExecutableCache::entry_path(const std::string& key) const {
  return directory_ / (fingerprint(key) + ".pjrt");
}

// An entry: the magic line, the key's length and the key, the executable's length and
// fingerprint, then the executable.
std::optional<std::string> ExecutableCache::find(const std::string& key) const {
  if (!enabled()) return std::nullopt;
  std::ifstream file(entry_path(key), std::ios::binary);
  if (!file) return std::nullopt;
  std::string magic(kMagic.size(), '\0');
  if (!file.read(magic.data(), static_cast<std::streamsize>(magic.size())) || magic != kMagic) return std::nullopt;
  std::size_t key_size = 0, size = 0;
  std::string checksum;
  if (!(file >> key_size) || file.get() != '\n' || key_size != key.size()) return std::nullopt;
  std::string stored_key(key_size, '\0');
  if (!file.read(stored_key.data(), static_cast<std::streamsize>(key_size)) || stored_key != key) return std::nullopt;
  if (!(file >> size >> checksum) || file.get() != '\n' || size > (std::size_t{1} << 34)) return std::nullopt;
  std::string serialized(size, '\0');
  if (!file.read(serialized.data(), static_cast<std::streamsize>(size)) || file.peek() != EOF) return std::nullopt;
  if (fingerprint(serialized) != checksum) return std::nullopt;
  return serialized;
}

bool ExecutableCache::store(const std::string& key, const std::string& serialized) const noexcept {
  if (!enabled()) return false;
  try {
    std::error_code ec;
    fs::create_directories(directory_, ec);
    const fs::path target = entry_path(key);
    const fs::path temporary = target.string() + ".tmp" + std::to_string(::getpid()) + "_" +
                               std::to_string(std::hash<std::thread::id>{}(std::this_thread::get_id()));
    {
      std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
      file << kMagic << key.size() << '\n' << key << serialized.size() << ' ' << fingerprint(serialized) << '\n';
      file.write(serialized.data(), static_cast<std::streamsize>(serialized.size()));
      if (!file.flush()) {
        fs::remove(temporary, ec);
        return false;
      }
    }
    fs::rename(temporary, target, ec);
    if (!ec) return true;
    fs::remove(temporary, ec);
    return false;
  } catch (...) {
    return false;
  }
}

}  // namespace hepinfer::xla::detail
