#pragma once
// Compiled-function instances of one batch size, lent to one caller at a time. An instance owns
// XLA's scratch and result buffers plus, per input, a 64-byte aligned staging buffer for inputs
// that cannot be read in place (padded, or not aligned); the pool keeps every instance it made,
// so a run allocates nothing once as many instances exist as callers run at once.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "package_abi.h"

namespace hepinfer::aot::detail {

class FunctionInstance {
 public:
  FunctionInstance(const HepinferAotPackage& table, std::int32_t batch_index, const std::string& what);
  ~FunctionInstance();
  FunctionInstance(const FunctionInstance&) = delete;
  FunctionInstance& operator=(const FunctionInstance&) = delete;

  void* function() const { return function_; }
  // Input `index`'s staging buffer (input_bytes long, 64-byte aligned).
  void* staging(std::size_t index) const { return staging_[index].get(); }

 private:
  struct AlignedFree {
    void operator()(void* data) const;
  };
  const HepinferAotPackage& table_;
  void* function_ = nullptr;
  std::vector<std::unique_ptr<void, AlignedFree>> staging_;
};

class InstancePool {
 public:
  // `what` names the model and batch size in errors.
  InstancePool(const HepinferAotPackage& table, std::int32_t batch_index, std::string what)
      : table_(table), batch_index_(batch_index), what_(std::move(what)) {}

  // An instance for the caller alone until the lease ends; a new one if every instance is lent.
  class Lease {
   public:
    Lease(InstancePool& pool, std::unique_ptr<FunctionInstance> instance)
        : pool_(pool), instance_(std::move(instance)) {}
    ~Lease() { pool_.give_back(std::move(instance_)); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    FunctionInstance& operator*() const { return *instance_; }
    FunctionInstance* operator->() const { return instance_.get(); }

   private:
    InstancePool& pool_;
    std::unique_ptr<FunctionInstance> instance_;
  };

  Lease borrow();
  std::size_t instances() const;  // made so far

 private:
  void give_back(std::unique_ptr<FunctionInstance> instance);

  const HepinferAotPackage& table_;
  std::int32_t batch_index_;
  std::string what_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<FunctionInstance>> idle_;
  std::size_t made_ = 0;
};

}  // namespace hepinfer::aot::detail
