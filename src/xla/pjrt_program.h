#pragma once
// One compiled XLA program on a PJRT client's first device: host tensors in, host tensors out.

#include <string>
#include <vector>

#include "hepinfer/core/tensor.h"
#include "hepinfer/xla/pjrt_plugin.h"
#include "pjrt_calls.h"

namespace hepinfer::xla::detail {

class PjrtProgram {
 public:
  // Compiles `code` ("mlir": StableHLO, text, bytecode or portable artifact; "hlo": an
  // HloModuleProto) for one replica and one partition. `what` names the program in errors.
  PjrtProgram(std::shared_ptr<const PjrtClient> client, const std::string& code, const std::string& format,
              std::string what);
  ~PjrtProgram();
  PjrtProgram(const PjrtProgram&) = delete;
  PjrtProgram& operator=(const PjrtProgram&) = delete;

  std::size_t num_outputs() const { return num_outputs_; }

  // Runs on `inputs`, which the caller has checked against the program's parameters (PJRT checks
  // only byte sizes). Thread-safe.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs) const;

 private:
  const PJRT_Api* api() const;

  std::shared_ptr<const PjrtClient> client_;
  std::string what_;
  PJRT_Device* device_ = nullptr;
  PJRT_LoadedExecutable* executable_ = nullptr;
  std::size_t num_outputs_ = 0;
};

}  // namespace hepinfer::xla::detail
