#pragma once
// How the XLA backend calls a PJRT plugin: argument structs filled by the struct_size protocol,
// functions checked to exist in the plugin's (possibly older) table, errors turned into typed
// hepinfer errors. The only file that includes the PJRT C API header.

#include <cstddef>
#include <cstring>
#include <string>

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

}  // namespace hepinfer::xla::detail
