#pragma once
// How the XLA backend calls a PJRT plugin: argument structs filled by the struct_size protocol,
// functions checked to exist in the plugin's (possibly older) table, errors turned into typed
// hepinfer errors. The only file that includes the PJRT C API header.

#include <cstddef>
#include <cstring>
#include <string>
#include <utility>

#include "hepinfer/core/dtype.h"
#include "pjrt_c_api.h"

namespace hepinfer::xla::detail {

// A zeroed argument struct whose struct_size says which fields this header knows.
template <class Args>
Args make_args(std::size_t struct_size) {
  Args args;
  std::memset(&args, 0, sizeof(args));
  args.struct_size = struct_size;
  return args;
}
#define HEPINFER_PJRT_ARGS(Type) ::hepinfer::xla::detail::make_args<Type>(Type##_STRUCT_SIZE)

// True if the plugin's table has `Member` (the plugin may predate it) and it is set.
#define HEPINFER_PJRT_HAS(api, Member) \
  (offsetof(PJRT_Api, Member) + sizeof(void*) <= (api)->struct_size && (api)->Member != nullptr)

// Destroys `error` and throws the hepinfer error of its canonical code, its message prefixed by
// `context`. Does nothing for null (success).
void throw_if_error(const PJRT_Api* api, PJRT_Error* error, const std::string& context);

// PJRT's element type for `dtype`.
PJRT_Buffer_Type buffer_type(DType dtype);

// For optional queries: true on success; an error is released, not raised.
bool succeeded(const PJRT_Api* api, PJRT_Error* error);

// Waits for `event` (null: nothing to wait for) and destroys it; throws its error prefixed by
// `context`. Polls for a short while before blocking (see pjrt_calls.cpp).
void await_event(const PJRT_Api* api, PJRT_Event* event, const std::string& context);

// The client's first addressable device, where hepinfer runs; FailedPreconditionError if none.
PJRT_Device* first_device(const PJRT_Api* api, PJRT_Client* client, const std::string& what);

// A buffer on a PJRT device, destroyed with its owner.
class DeviceBuffer {
 public:
  DeviceBuffer(const PJRT_Api* api, PJRT_Buffer* buffer) : api_(api), buffer_(buffer) {}
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept : api_(other.api_), buffer_(std::exchange(other.buffer_, nullptr)) {}
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(DeviceBuffer&&) = delete;
  PJRT_Buffer* get() const { return buffer_; }

 private:
  const PJRT_Api* api_;
  PJRT_Buffer* buffer_;
};

}  // namespace hepinfer::xla::detail
