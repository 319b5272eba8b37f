#include "pjrt_calls.h"

#include "hepinfer/core/error.h"

namespace hepinfer::xla::detail {

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

}  // namespace hepinfer::xla::detail
