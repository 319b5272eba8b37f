#include "tensor_bridge.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>

#include "hepinfer/core/error.h"
#include "tensorflow/core/framework/allocation_description.pb.h"

namespace hepinfer::tf {
namespace {

// TF's kernels map tensor memory with Eigen's aligned maps and check the alignment TF itself was
// compiled with, which can be larger than this translation unit's EIGEN_MAX_ALIGN_BYTES (the
// wheel's kernels abort on a 16-byte-aligned buffer). TF's allocators guarantee 64 bytes.
constexpr std::uintptr_t kTfAlignment = std::max<std::uintptr_t>(EIGEN_MAX_ALIGN_BYTES, 64);

// Lends hepinfer memory to TensorFlow. OwnsMemory() == false stops TF from forwarding the
// buffer to an op's output and writing into the caller's input.
class BorrowedBuffer final : public tensorflow::TensorBuffer {
 public:
  explicit BorrowedBuffer(Tensor tensor)
      : TensorBuffer(tensor.raw_data()), tensor_(std::move(tensor)) {}
  std::size_t size() const override { return tensor_.byte_size(); }
  TensorBuffer* root_buffer() override { return this; }
  void FillAllocationDescription(tensorflow::AllocationDescription* proto) const override {
    proto->set_requested_bytes(static_cast<std::int64_t>(size()));
    proto->set_allocator_name("hepinfer");
  }
  bool OwnsMemory() const override { return false; }

 private:
  Tensor tensor_;  // shallow copy: keeps owned memory alive while TF uses it
};

tensorflow::TensorShape to_tf_shape(const Shape& shape) {
  tensorflow::TensorShape tf_shape;
  for (std::int64_t dim : shape.dims()) tf_shape.AddDim(dim);
  return tf_shape;
}

}  // namespace

tensorflow::DataType to_tf_dtype(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return tensorflow::DT_FLOAT;
    case DType::kFloat64: return tensorflow::DT_DOUBLE;
    case DType::kInt32: return tensorflow::DT_INT32;
    case DType::kInt64: return tensorflow::DT_INT64;
    case DType::kBool: return tensorflow::DT_BOOL;
    case DType::kFloat16: return tensorflow::DT_HALF;
    case DType::kInt8: return tensorflow::DT_INT8;
    case DType::kInt16: return tensorflow::DT_INT16;
    case DType::kUInt8: return tensorflow::DT_UINT8;
    case DType::kUInt16: return tensorflow::DT_UINT16;
  }
  return tensorflow::DT_INVALID;
}

std::optional<DType> from_tf_dtype(tensorflow::DataType dtype) {
  switch (tensorflow::BaseType(dtype)) {
    case tensorflow::DT_FLOAT: return DType::kFloat32;
    case tensorflow::DT_DOUBLE: return DType::kFloat64;
    case tensorflow::DT_INT32: return DType::kInt32;
    case tensorflow::DT_INT64: return DType::kInt64;
    case tensorflow::DT_BOOL: return DType::kBool;
    case tensorflow::DT_HALF: return DType::kFloat16;
    case tensorflow::DT_INT8: return DType::kInt8;
    case tensorflow::DT_INT16: return DType::kInt16;
    case tensorflow::DT_UINT8: return DType::kUInt8;
    case tensorflow::DT_UINT16: return DType::kUInt16;
    default: return std::nullopt;
  }
}

tensorflow::Tensor to_tf_tensor(const Tensor& tensor) {
  const auto dtype = to_tf_dtype(tensor.dtype());
  const auto shape = to_tf_shape(tensor.shape());
  const auto address = reinterpret_cast<std::uintptr_t>(tensor.raw_data());
  if (tensor.byte_size() == 0 || address % kTfAlignment != 0) {
    tensorflow::Tensor copy(dtype, shape);
    if (tensor.byte_size() > 0) std::memcpy(copy.data(), tensor.raw_data(), tensor.byte_size());
    return copy;
  }
  auto* buffer = new BorrowedBuffer(tensor);
  tensorflow::Tensor borrowed(dtype, shape, buffer);
  buffer->Unref();  // the TF tensor now holds the only reference
  return borrowed;
}

Tensor from_tf_tensor(tensorflow::Tensor tensor, std::span<const Tensor> fed_views, const std::string& model_path,
                      const std::string& output) {
  const auto dtype = from_tf_dtype(tensor.dtype());
  if (!dtype) {
    throw UnsupportedError("model '" + model_path + "', output '" + output + "' has dtype " + tensorflow::DataTypeString(tensor.dtype()) +
                           "; hepinfer takes " + std::string(supported_dtype_names()));
  }
  std::vector<std::int64_t> dims(tensor.dims());
  for (int axis = 0; axis < tensor.dims(); ++axis) dims[axis] = tensor.dim_size(axis);
  Shape shape(std::move(dims));
  if (tensor.NumElements() == 0) return Tensor(*dtype, std::move(shape));

  auto holder = std::make_shared<tensorflow::Tensor>(std::move(tensor));
  auto* data = static_cast<std::byte*>(holder->data());
  Tensor result = Tensor::shared(*dtype, std::move(shape), data, holder);
  for (const Tensor& view : fed_views) {
    const auto* begin = static_cast<const std::byte*>(view.raw_data());
    if (data >= begin && data < begin + view.byte_size()) return result.clone();
  }
  return result;
}

}  // namespace hepinfer::tf
