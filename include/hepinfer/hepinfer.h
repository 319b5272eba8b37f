#pragma once
// Everything an application needs: tensors, errors, the model interface, .npy files, the GPU
// resource scheduler, batch splitting, dynamic batching and, when built with them, the TensorFlow,
// XLA, AOT and remote backends. No TensorFlow, PJRT or network library header is included from here.

#include "hepinfer/batching/dynamic_batcher.h"
#include "hepinfer/batching/splitting_model.h"
#include "hepinfer/core/dtype.h"
#include "hepinfer/core/error.h"
#include "hepinfer/core/model.h"
#include "hepinfer/core/npy.h"
#include "hepinfer/core/shape.h"
#include "hepinfer/core/tensor.h"
#include "hepinfer/scheduler/gpu_discovery.h"
#include "hepinfer/scheduler/plan.h"
#include "hepinfer/scheduler/resource_scheduler.h"
#if __has_include("hepinfer/xla/xla_model.h")
#include "hepinfer/xla/pjrt_plugin.h"
#include "hepinfer/xla/xla_model.h"
#endif
#if __has_include("hepinfer/aot/aot_model.h")
#include "hepinfer/aot/aot_model.h"
#endif
#if __has_include("hepinfer/remote/remote_model.h")
#include "hepinfer/remote/remote_model.h"
#include "hepinfer/remote/server_probe.h"
#endif
#if __has_include("hepinfer/tensorflow/tf_model.h")
#include "hepinfer/tensorflow/device_plan.h"
#include "hepinfer/tensorflow/tf_model.h"
#include "hepinfer/tensorflow/tf_runtime.h"
#endif
