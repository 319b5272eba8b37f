#include "instance_pool.h"

#include <cstdlib>
#include <new>

#include "hepinfer/core/error.h"
#include "hepinfer/core/tensor.h"

namespace hepinfer::aot::detail {

void FunctionInstance::AlignedFree::operator()(void* data) const {
  ::operator delete(data, std::align_val_t{kTensorAlignment});
}

FunctionInstance::FunctionInstance(const HepinferAotPackage& table, std::int32_t batch_index, const std::string& what)
    : table_(table), function_(table.create(batch_index)) {
  if (function_ == nullptr) throw ResourceExhaustedError("cannot allocate the compiled function's buffers for " + what);
  try {
    for (std::int32_t i = 0; i < table.num_inputs; ++i) {
      const std::int64_t bytes = table.input_bytes(function_, i);
      void* buffer = ::operator new(static_cast<std::size_t>(bytes > 0 ? bytes : 1),
                                    std::align_val_t{kTensorAlignment}, std::nothrow);
      if (buffer == nullptr) {
        throw ResourceExhaustedError("cannot allocate " + std::to_string(bytes) + " bytes of input buffers for " + what);
      }
      staging_.emplace_back(buffer);
    }
  } catch (...) {
    table.destroy(function_);
    throw;
  }
}

FunctionInstance::~FunctionInstance() { table_.destroy(function_); }

InstancePool::Lease InstancePool::borrow() {
  {
    const std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      std::unique_ptr<FunctionInstance> instance = std::move(idle_.back());
      idle_.pop_back();
      return Lease(*this, std::move(instance));
    }
    ++made_;
    idle_.reserve(made_);  // so that giving back (in a destructor) never allocates
  }
  try {
    return Lease(*this, std::make_unique<FunctionInstance>(table_, batch_index_, what_));
  } catch (...) {
    const std::lock_guard lock(mutex_);
    --made_;
    throw;
  }
}

void InstancePool::give_back(std::unique_ptr<FunctionInstance> instance) {
  if (instance == nullptr) return;
  const std::lock_guard lock(mutex_);
  idle_.push_back(std::move(instance));
}

std::size_t InstancePool::instances() const {
  const std::lock_guard lock(mutex_);
  return made_;
}

}  // namespace hepinfer::aot::detail
