#include "resident_weights.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>

#include "hepinfer/core/error.h"

namespace hepinfer::xla::detail {
namespace {

constexpr std::int64_t kCopyWindowBytes = std::int64_t{256} << 20;

// A file mapped read-only for the time of the copies: the device copies read it straight from
// the page cache, with no heap copy of weights that may be gigabytes.
class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path) {
    const int descriptor = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (descriptor < 0) {
      throw FileNotFoundError("XLA weights file '" + path.string() + "' cannot be opened: " + std::strerror(errno));
    }
    struct stat status {};
    if (::fstat(descriptor, &status) != 0) {
      const int error = errno;
      ::close(descriptor);
      throw FileNotFoundError("XLA weights file '" + path.string() + "' cannot be read: " + std::strerror(error));
    }
    if (!S_ISREG(status.st_mode)) {
      ::close(descriptor);
      throw FileNotFoundError("XLA weights file '" + path.string() + "' is not a regular file");
    }
    size_ = static_cast<std::size_t>(status.st_size);
    if (size_ > 0) {
      void* data = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, descriptor, 0);
      if (data == MAP_FAILED) {
        const int error = errno;
        ::close(descriptor);
        const std::string message = "XLA weights file '" + path.string() + "' cannot be mapped: " + std::strerror(error);
        if (error == ENOMEM) throw ResourceExhaustedError(message);
        throw FileNotFoundError(message);
      }
      data_ = static_cast<const char*>(data);
    }
    ::close(descriptor);
  }
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(const_cast<char*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const char* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  const char* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace

ResidentWeights::ResidentWeights(std::shared_ptr<const PjrtClient> client, const ArtifactWeights& weights,
                                 const std::string& what)
    : client_(std::move(client)) {
  const auto* api = static_cast<const PJRT_Api*>(client_->plugin().api());
  auto* native = static_cast<PJRT_Client*>(client_->native_handle());
  PJRT_Device* device = first_device(api, native, what);
  const MappedFile file(weights.file);
  buffers_.reserve(weights.tensors.size());  // no reallocation while a copy is in flight
  handles_.reserve(weights.tensors.size());
  // Every copy is awaited before the file is unmapped, also when one of them fails.
  std::vector<PJRT_Event*> copies;
  std::int64_t bytes_in_flight = 0;
  std::exception_ptr failure;
  const auto await_copies = [&] {
    for (PJRT_Event* event : copies) {
      try {
        await_event(api, event, what + ": copying the weights to the device");
      } catch (const Error&) {
        if (!failure) failure = std::current_exception();
      }
    }
    copies.clear();
    bytes_in_flight = 0;
  };
  for (const WeightTensor& tensor : weights.tensors) {
    try {
      // The manifest was checked against the file's size when read; the file may have changed since.
      if (static_cast<std::size_t>(tensor.offset) > file.size() ||
          static_cast<std::size_t>(tensor.byte_size()) > file.size() - static_cast<std::size_t>(tensor.offset)) {
        throw InvalidModelError(what + ": weight '" + tensor.name + "' lies beyond the end of '" +
                                weights.file.string() + "' (" + std::to_string(file.size()) + " bytes)");
      }
      auto copy = HEPINFER_PJRT_ARGS(PJRT_Client_BufferFromHostBuffer_Args);
      copy.client = native;
      copy.data = file.data() == nullptr ? nullptr : file.data() + tensor.offset;
      copy.type = buffer_type(tensor.dtype);
      copy.dims = tensor.shape.dims().data();
      copy.num_dims = tensor.shape.rank();
      // The file stays mapped until every copy says it is done with it (below): the plugin need not
      // stage a copy of its own during the call.
      copy.host_buffer_semantics = PJRT_HostBufferSemantics_kImmutableUntilTransferCompletes;
      copy.device = device;
      throw_if_error(api, api->PJRT_Client_BufferFromHostBuffer(&copy),
                     what + ": copying weight '" + tensor.name + "' to the device");
      buffers_.emplace_back(api, copy.buffer);
      handles_.push_back(copy.buffer);
      if (copy.done_with_host_buffer != nullptr) copies.push_back(copy.done_with_host_buffer);
    } catch (const Error&) {
      failure = std::current_exception();
      break;
    }
    bytes_ += tensor.byte_size();
    bytes_in_flight += tensor.byte_size();
    // A GPU client stages copies from pageable memory through pinned buffers of its own: waiting
    // every so often bounds those to about a window, not the whole file.
    if (bytes_in_flight >= kCopyWindowBytes) await_copies();
  }
  await_copies();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace hepinfer::xla::detail
