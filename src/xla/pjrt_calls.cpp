#include "pjrt_calls.h"

#include <sched.h>

#include <chrono>

#include "hepinfer/core/error.h"

namespace hepinfer::xla::detail {
namespace {

// How long a caller polls an event before blocking on it. The plugin signals events from its own
// threads; a caller blocked in the kernel is woken by an inter-processor interrupt, which on a
// virtual machine's idle vCPU costs ~100 us, more than a small program's run. Polling for a
// bounded time keeps the caller's CPU awake for those short waits only.
constexpr auto kPollBeforeBlocking = std::chrono::microseconds(200);

}  // namespace

void throw_if_error(const PJRT_Api* api, PJRT_Error* error, const std::string& context) {
  if (error == nullptr) return;
  auto message_args = HEPINFER_PJRT_ARGS(PJRT_Error_Message_Args);
  message_args.error = error;
  api->PJRT_Error_Message(&message_args);
  const std::string message(message_args.message, message_args.message_size);
  auto code_args = HEPINFER_PJRT_ARGS(PJRT_Error_GetCode_Args);
  code_args.error = error;
  PJRT_Error* code_error = api->PJRT_Error_GetCode(&code_args);
  // The code is PJRT's copy of the canonical status codes; -1 (no code) becomes BackendError.
  const int code = code_error == nullptr ? static_cast<int>(code_args.code) : -1;
  auto destroy_args = HEPINFER_PJRT_ARGS(PJRT_Error_Destroy_Args);
  if (code_error != nullptr) {
    destroy_args.error = code_error;
    api->PJRT_Error_Destroy(&destroy_args);
  }
  destroy_args.error = error;
  api->PJRT_Error_Destroy(&destroy_args);
  throw_for_status_code(code == 0 ? -1 : code, context + ": " + message);
}

PJRT_Buffer_Type buffer_type(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return PJRT_Buffer_Type_F32;
    case DType::kFloat64: return PJRT_Buffer_Type_F64;
    case DType::kInt32: return PJRT_Buffer_Type_S32;
    case DType::kInt64: return PJRT_Buffer_Type_S64;
    case DType::kBool: return PJRT_Buffer_Type_PRED;
    case DType::kFloat16: return PJRT_Buffer_Type_F16;
    case DType::kInt8: return PJRT_Buffer_Type_S8;
    case DType::kInt16: return PJRT_Buffer_Type_S16;
    case DType::kUInt8: return PJRT_Buffer_Type_U8;
    case DType::kUInt16: return PJRT_Buffer_Type_U16;
  }
  throw UnsupportedError("dtype " + std::string(dtype_name(dtype)) + " has no PJRT buffer type");
}

bool succeeded(const PJRT_Api* api, PJRT_Error* error) {
  if (error == nullptr) return true;
  try {
    throw_if_error(api, error, "");
  } catch (const Error&) {
  }
  return false;
}

void await_event(const PJRT_Api* api, PJRT_Event* event, const std::string& context) {
  if (event == nullptr) return;
  if (HEPINFER_PJRT_HAS(api, PJRT_Event_IsReady)) {
    const auto give_up = std::chrono::steady_clock::now() + kPollBeforeBlocking;
    auto ready = HEPINFER_PJRT_ARGS(PJRT_Event_IsReady_Args);
    ready.event = event;
    PJRT_Error* polled = nullptr;
    while ((polled = api->PJRT_Event_IsReady(&ready)) == nullptr && !ready.is_ready &&
           std::chrono::steady_clock::now() < give_up) {
      sched_yield();  // the plugin's threads may need this CPU to finish
    }
    succeeded(api, polled);  // released; the await below reports what went wrong
  }
  auto await_args = HEPINFER_PJRT_ARGS(PJRT_Event_Await_Args);
  await_args.event = event;
  PJRT_Error* error = api->PJRT_Event_Await(&await_args);
  auto destroy_args = HEPINFER_PJRT_ARGS(PJRT_Event_Destroy_Args);
  destroy_args.event = event;
  succeeded(api, api->PJRT_Event_Destroy(&destroy_args));
  throw_if_error(api, error, context);
}

PJRT_Device* first_device(const PJRT_Api* api, PJRT_Client* client, const std::string& what) {
  auto devices = HEPINFER_PJRT_ARGS(PJRT_Client_AddressableDevices_Args);
  devices.client = client;
  throw_if_error(api, api->PJRT_Client_AddressableDevices(&devices), "listing the devices for " + what);
  if (devices.num_addressable_devices == 0) throw FailedPreconditionError("no PJRT device to run " + what + " on");
  return devices.addressable_devices[0];
}

DeviceBuffer::~DeviceBuffer() {
  if (buffer_ == nullptr) return;
  auto args = HEPINFER_PJRT_ARGS(PJRT_Buffer_Destroy_Args);
  args.buffer = buffer_;
  succeeded(api_, api_->PJRT_Buffer_Destroy(&args));
}

}  // namespace hepinfer::xla::detail
