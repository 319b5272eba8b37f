#pragma once
// One compiled XLA program on a PJRT client's first device: host tensors in, host tensors out.

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "hepinfer/core/tensor.h"
#include "hepinfer/xla/pjrt_plugin.h"
#include "hepinfer/xla/xla_model.h"
#include "pjrt_calls.h"
#include "resident_weights.h"

namespace hepinfer::xla::detail {

// The serialized xla.CompileOptionsProto every program on `client` is compiled with: one replica
// and one partition (empty options make the plugins abort the process) and, on the CPU, min and
// max that propagate NaN as TensorFlow's do. The CPU plugin's default (xla_cpu_enable_fast_min_max)
// lets a reduce_max skip a NaN that TF returns; the GPU plugin propagates NaN by default. A
// --xla_cpu_enable_fast_min_max in XLA_FLAGS is the user's choice and is left to the plugin.
std::string compile_options_for(const PjrtClient& client);

// Where a program takes its inputs: the device's own memory, or (a program compiled with its
// parameters in pinned host memory, artifact.h's PinnedHostVariant) the device's pinned host memory.
enum class InputMemory { kDevice, kPinnedHost };

class PjrtProgram {
 public:
  // Compiles `code` ("mlir": StableHLO, text, bytecode or portable artifact; "hlo": an
  // HloModuleProto) for one replica and one partition. `what` names the program in errors.
  // `weights` (on the same client), where the program takes them as parameters, follow the
  // inputs in every run. Throws NotFoundError for kPinnedHost on a device without pinned host
  // memory.
  static std::unique_ptr<PjrtProgram> compile(std::shared_ptr<const PjrtClient> client, const std::string& code,
                                              const std::string& format, std::string what,
                                              InputMemory inputs = InputMemory::kDevice,
                                              std::shared_ptr<const ResidentWeights> weights = nullptr);
  // Loads what serialize() wrote, by the same plugin build on the same kind of device (the
  // caller's cache key makes sure of that).
  static std::unique_ptr<PjrtProgram> deserialize(std::shared_ptr<const PjrtClient> client, const std::string& bytes,
                                                  std::string what, InputMemory inputs = InputMemory::kDevice,
                                                  std::shared_ptr<const ResidentWeights> weights = nullptr);
  ~PjrtProgram();
  PjrtProgram(const PjrtProgram&) = delete;
  PjrtProgram& operator=(const PjrtProgram&) = delete;

  std::size_t num_outputs() const { return num_outputs_; }
  // True if every output lands in pinned host memory and is read there (a GPU program compiled so).
  bool outputs_in_pinned_host() const;
  // Why a run copied an output through PJRT that was to be read where it lies (the first reason
  // seen; results are the same, only slower); none while every such output was read in place.
  std::optional<std::string> copied_instead_of_read_in_place() const;
  // What one run needs on the device, as the compiler counted it (the weights fed as parameters
  // as resident_argument_bytes); none if the plugin does not say.
  const std::optional<CompiledMemory>& compiled_memory() const { return compiled_memory_; }
  // The compiled executable, as the plugin serializes it.
  std::string serialize() const;

  // Runs on `inputs`, which the caller has checked against the program's parameters (PJRT checks
  // only byte sizes), and the weights. Thread-safe.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs) const;

 private:
  // Takes ownership of `executable`, destroying it if reading its outputs fails.
  PjrtProgram(std::shared_ptr<const PjrtClient> client, PJRT_LoadedExecutable* executable, std::string what,
              InputMemory inputs, std::shared_ptr<const ResidentWeights> weights);
  // Reads the executable's output count, memory figures and output memories; throws.
  void describe_executable(InputMemory inputs);
  const PJRT_Api* api() const;
  void note_copied_output(const std::string& why) const;

  std::shared_ptr<const PjrtClient> client_;
  std::string what_;
  PJRT_Device* device_ = nullptr;
  PJRT_LoadedExecutable* executable_ = nullptr;
  std::size_t num_outputs_ = 0;
  bool on_cpu_ = false;  // the CPU plugin's client
  PJRT_Memory* input_memory_ = nullptr;  // set: inputs are placed there, not in the device's default memory
  // Per output: read where it lies once ready (the CPU plugin's memory and pinned host memory are
  // the host's), not copied through PJRT.
  std::vector<bool> read_in_place_;
  PJRT_Memory* pinned_host_memory_ = nullptr;  // set: where outputs read in place on a GPU must lie
  mutable std::atomic<bool> copied_an_output_{false};
  mutable std::mutex copied_why_mutex_;
  mutable std::string copied_why_;
  std::optional<CompiledMemory> compiled_memory_;
  std::shared_ptr<const ResidentWeights> weights_;  // null: baked into the program
};

}  // namespace hepinfer::xla::detail
