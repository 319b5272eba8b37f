#pragma once
// Moves tensors between hepinfer and TensorFlow without copying their data where possible.

#include <optional>
#include <span>
#include <string>

#include "hepinfer/core/tensor.h"
#include "tensorflow/core/framework/tensor.h"

namespace hepinfer::tf {

tensorflow::DataType to_tf_dtype(DType dtype);
std::optional<DType> from_tf_dtype(tensorflow::DataType dtype);

// A TF tensor over the same memory as `tensor`, which it keeps alive. Memory that is not
// aligned as TF's kernels require is copied instead.
tensorflow::Tensor to_tf_tensor(const Tensor& tensor);

// A hepinfer tensor sharing the TF tensor's buffer. If that buffer lies inside one of the caller's
// view tensors `fed_views` (an identity-like graph), the data is copied so the result never
// depends on memory hepinfer does not own. Errors name `model_path` and `output`.
Tensor from_tf_tensor(tensorflow::Tensor tensor, std::span<const Tensor> fed_views, const std::string& model_path,
                      const std::string& output);

}  // namespace hepinfer::tf
