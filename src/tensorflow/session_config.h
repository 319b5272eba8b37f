#pragma once
// The one place hepinfer's session configuration is written: threading defaults plus the GPU
// options of the applied device plan.

#include <string_view>

#include "hepinfer/tensorflow/device_plan.h"
#include "tensorflow/core/protobuf/config.pb.h"

namespace hepinfer::tf {

// `settings` null: no plan applied, TF's default GPU options. `device` empty: TF's default
// placement; "/device:CPU:0": the session creates no GPU device.
tensorflow::ConfigProto make_session_config(const GpuSettings* settings, std::string_view device);

}  // namespace hepinfer::tf
