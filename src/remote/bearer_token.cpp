#include "bearer_token.h"

#include <algorithm>
#include <filesystem>

#include "hepinfer/core/error.h"
#include "hepinfer/core/file_read.h"

namespace hepinfer::remote::detail {
namespace {

constexpr std::size_t kMaxTokenBytes = 16 * 1024;

// The token in `contents`, surrounding white space and a final newline removed. A token is one
// run of visible ASCII (RFC 6750's b64token is a subset): anything else could end the header
// early or smuggle another one in.
std::string token_in(const std::string& contents, const std::string& file) {
  const auto first = contents.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) throw InvalidArgumentError("token file '" + file + "' is empty");
  const auto last = contents.find_last_not_of(" \t\r\n");
  std::string token = contents.substr(first, last - first + 1);
  if (token.size() > kMaxTokenBytes) {
    throw InvalidArgumentError("token file '" + file + "' holds more than " + std::to_string(kMaxTokenBytes) +
                               " bytes; a bearer token is one line");
  }
  const auto bad = std::find_if(token.begin(), token.end(), [](char c) { return c < 0x21 || c > 0x7e; });
  if (bad != token.end()) {
    throw InvalidArgumentError("token file '" + file + "' holds a " +
                               (*bad == '\n' || *bad == '\r' ? std::string("line break") : "space or non-ASCII byte") +
                               " inside the token; it must hold one token on one line");
  }
  return token;
}

std::string read_token(const std::string& file) {
  check_regular_file(file, "token file");
  std::error_code error;
  const auto size = std::filesystem::file_size(file, error);
  if (!error && size > 4 * kMaxTokenBytes) {
    throw InvalidArgumentError("token file '" + file + "' is " + std::to_string(size) +
                               " bytes; a bearer token is one line");
  }
  return token_in(read_regular_file(file, "token file"), file);
}

}  // namespace

BearerToken::BearerToken(std::string file) : file_(std::move(file)), header_("Bearer " + read_token(file_)) {}

std::string BearerToken::header() const {
  std::lock_guard lock(mutex_);
  return header_;
}

bool BearerToken::reload() {
  std::string header;
  try {
    header = "Bearer " + read_token(file_);
  } catch (const Error&) {
    return false;
  }
  std::lock_guard lock(mutex_);
  if (header == header_) return false;
  header_ = std::move(header);
  ++generation_;
  return true;
}

std::uint64_t BearerToken::generation() const {
  std::lock_guard lock(mutex_);
  return generation_;
}

}  // namespace hepinfer::remote::detail
