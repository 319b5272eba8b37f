#pragma once
// Everything an application needs: tensors, errors, the model interface, .npy files and, when
// built with it, the TensorFlow backend. No TensorFlow header is included from here.

#include "hepinfer/core/dtype.h"
#include "hepinfer/core/error.h"
#include "hepinfer/core/model.h"
#include "hepinfer/core/npy.h"
#include "hepinfer/core/shape.h"
#include "hepinfer/core/tensor.h"
#if __has_include("hepinfer/tensorflow/tf_model.h")
#include "hepinfer/tensorflow/tf_model.h"
#include "hepinfer/tensorflow/tf_runtime.h"
#endif
