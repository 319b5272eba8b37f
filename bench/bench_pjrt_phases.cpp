// Where one small run's round trip goes on a PJRT device, step by step through the PJRT C API:
// the host-to-device copy, the run on an input already on the device, the device-to-host copy,
// and the whole round trip the XLA backend makes, with the variants it could make instead (no
// completion event, another input semantics, other ways of waiting). For a GPU whose round trip
// is far above its run (docs/gpu-validation.md): which step to work on. Runs on the GPU machines
// (scripts/gpu_kit.sh carries it); without a GPU, on the CPU plugin. On the CPU plugin it also
// times its hand-off to its own threads alone (two generated programs, below and above the cost
// under which the plugin runs a program on the caller's thread).
//
// usage: bench_pjrt_phases PROGRAM INPUT_COLUMNS OUTPUT.json [--seconds S]
//                          [--host-output PROGRAM] [--host-io PROGRAM]
//   PROGRAM: one program of an XLA artifact (StableHLO), one float32 input [1, INPUT_COLUMNS]
//   (the MLP test model's b1.mlirbc and 32). --host-output and --host-io: the same program with
//   its output, or its input and output, in pinned host memory (tools/host_memory_programs.py;
//   CUDA plugin only), measured on the GPU too, with the output read where it lies.

#include <sched.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "hepinfer/core/error.h"
#include "hepinfer/scheduler/gpu_discovery.h"
#include "hepinfer/xla/pjrt_plugin.h"
#include "hepinfer/xla/xla_model.h"
#include "latency_stats.h"
#include "nlohmann/json.hpp"
#include "pjrt_calls.h"
#include "pjrt_program.h"

namespace {

using hepinfer::xla::detail::throw_if_error;
using Clock = std::chrono::steady_clock;

enum class Wait { kPollThenBlock, kBlock, kSpin };

class Phases {
 public:
  // `input_in_host`: the program takes its input in pinned host memory.
  Phases(std::shared_ptr<const hepinfer::xla::PjrtClient> client, const std::string& code, std::int64_t columns,
         bool input_in_host = false)
      : client_(std::move(client)),
        api_(static_cast<const PJRT_Api*>(client_->plugin().api())),
        native_(static_cast<PJRT_Client*>(client_->native_handle())),
        input_(static_cast<std::size_t>(columns), 0.5f),
        dims_{1, columns} {
    std::string code_copy = code;
    auto program = HEPINFER_PJRT_ARGS(PJRT_Program);
    program.code = code_copy.data();
    program.code_size = code_copy.size();
    program.format = "mlir";
    program.format_size = 4;
    auto compile = HEPINFER_PJRT_ARGS(PJRT_Client_Compile_Args);
    compile.client = native_;
    compile.program = &program;
    const std::string options = hepinfer::xla::detail::compile_options_for(*client_);
    compile.compile_options = options.data();
    compile.compile_options_size = options.size();
    throw_if_error(api_, api_->PJRT_Client_Compile(&compile), "compiling the program");
    executable_ = compile.executable;
    auto devices = HEPINFER_PJRT_ARGS(PJRT_Client_AddressableDevices_Args);
    devices.client = native_;
    throw_if_error(api_, api_->PJRT_Client_AddressableDevices(&devices), "listing devices");
    device_ = devices.addressable_devices[0];
    if (input_in_host) input_memory_ = memory_of_kind("pinned_host");
    resident_input_ = to_device(PJRT_HostBufferSemantics_kImmutableOnlyDuringCall, Wait::kBlock);
    resident_output_ = execute(resident_input_, true, Wait::kBlock);
    auto size = HEPINFER_PJRT_ARGS(PJRT_Buffer_ToHostBuffer_Args);
    size.src = resident_output_;
    throw_if_error(api_, api_->PJRT_Buffer_ToHostBuffer(&size), "sizing the output");
    output_.resize(size.dst_size);
    await(start_to_host(resident_output_), Wait::kBlock);
    copied_output_ = output_;
  }
  ~Phases() {
    destroy(resident_input_);
    destroy(resident_output_);
    auto destroy_args = HEPINFER_PJRT_ARGS(PJRT_LoadedExecutable_Destroy_Args);
    destroy_args.executable = executable_;
    api_->PJRT_LoadedExecutable_Destroy(&destroy_args);
  }
  Phases(const Phases&) = delete;
  Phases& operator=(const Phases&) = delete;

  void await(PJRT_Event* event, Wait wait) const {
    if (event == nullptr) return;
    auto ready = HEPINFER_PJRT_ARGS(PJRT_Event_IsReady_Args);
    ready.event = event;
    if (wait == Wait::kSpin) {
      while (api_->PJRT_Event_IsReady(&ready) == nullptr && !ready.is_ready) {
      }
    } else if (wait == Wait::kPollThenBlock) {  // as the XLA backend waits
      const auto give_up = Clock::now() + std::chrono::microseconds(200);
      while (api_->PJRT_Event_IsReady(&ready) == nullptr && !ready.is_ready && Clock::now() < give_up) sched_yield();
    }
    auto await_args = HEPINFER_PJRT_ARGS(PJRT_Event_Await_Args);
    await_args.event = event;
    PJRT_Error* error = api_->PJRT_Event_Await(&await_args);
    auto destroy_args = HEPINFER_PJRT_ARGS(PJRT_Event_Destroy_Args);
    destroy_args.event = event;
    api_->PJRT_Event_Destroy(&destroy_args);
    throw_if_error(api_, error, "awaiting an event");
  }

  void destroy(PJRT_Buffer* buffer) const {
    auto args = HEPINFER_PJRT_ARGS(PJRT_Buffer_Destroy_Args);
    args.buffer = buffer;
    api_->PJRT_Buffer_Destroy(&args);
  }

  // The input copied to the device, awaited until the buffer is ready there.
  PJRT_Buffer* to_device(PJRT_HostBufferSemantics semantics, Wait wait) const {
    PJRT_Buffer* buffer = start_to_device(semantics, wait);
    auto ready = HEPINFER_PJRT_ARGS(PJRT_Buffer_ReadyEvent_Args);
    ready.buffer = buffer;
    throw_if_error(api_, api_->PJRT_Buffer_ReadyEvent(&ready), "the input's ready event");
    await(ready.event, wait);
    return buffer;
  }
  // The copy queued; awaited only until the host buffer may be reused.
  PJRT_Buffer* start_to_device(PJRT_HostBufferSemantics semantics, Wait wait) const {
    auto copy = HEPINFER_PJRT_ARGS(PJRT_Client_BufferFromHostBuffer_Args);
    copy.client = native_;
    copy.data = input_.data();
    copy.type = PJRT_Buffer_Type_F32;
    copy.dims = dims_.data();
    copy.num_dims = dims_.size();
    copy.host_buffer_semantics = semantics;
    if (input_memory_ != nullptr) {
      copy.memory = input_memory_;
    } else {
      copy.device = device_;
    }
    throw_if_error(api_, api_->PJRT_Client_BufferFromHostBuffer(&copy), "copying the input");
    await(copy.done_with_host_buffer, wait);
    return copy.buffer;
  }
  struct StartedRun {
    std::vector<PJRT_Buffer*> outputs;
    PJRT_Event* finished = nullptr;  // asked for only with `completion`
  };
  StartedRun start_run(PJRT_Buffer* input, bool completion) const {
    StartedRun run{std::vector<PJRT_Buffer*>(16, nullptr)};
    PJRT_Buffer* argument_list[1] = {input};
    PJRT_Buffer* const* argument_lists[1] = {argument_list};
    PJRT_Buffer** output_lists[1] = {run.outputs.data()};
    PJRT_Event* finished[1] = {nullptr};
    auto options = HEPINFER_PJRT_ARGS(PJRT_ExecuteOptions);
    auto execute = HEPINFER_PJRT_ARGS(PJRT_LoadedExecutable_Execute_Args);
    execute.executable = executable_;
    execute.options = &options;
    execute.argument_lists = argument_lists;
    execute.num_devices = 1;
    execute.num_args = 1;
    execute.output_lists = output_lists;
    execute.device_complete_events = completion ? finished : nullptr;
    throw_if_error(api_, api_->PJRT_LoadedExecutable_Execute(&execute), "running");
    run.finished = finished[0];
    return run;
  }
  void destroy_outputs(const StartedRun& run, std::size_t first) const {
    for (std::size_t i = first; i < run.outputs.size() && run.outputs[i] != nullptr; ++i) destroy(run.outputs[i]);
  }
  // Runs on `input`; returns the first output (the others destroyed), awaited when `completion`.
  PJRT_Buffer* execute(PJRT_Buffer* input, bool completion, Wait wait) const {
    const StartedRun run = start_run(input, completion);
    destroy_outputs(run, 1);
    await(run.finished, wait);
    return run.outputs[0];
  }
  PJRT_Event* start_to_host(PJRT_Buffer* buffer) const {
    auto to_host = HEPINFER_PJRT_ARGS(PJRT_Buffer_ToHostBuffer_Args);
    to_host.src = buffer;
    to_host.dst = output_.data();
    to_host.dst_size = output_.size();
    throw_if_error(api_, api_->PJRT_Buffer_ToHostBuffer(&to_host), "copying the output");
    return to_host.event;
  }

  // True where the first output can be read in place: in host memory (the CPU plugin's device
  // memory is host memory).
  bool output_in_host_memory() const {
    return output_memory_kind() == "pinned_host" || client_->platform_name() == "cpu";
  }

  // A round trip that reads the output where it lies, once it is ready, instead of copying it.
  void round_trip_in_place(Wait wait) const {
    PJRT_Buffer* input = start_to_device(PJRT_HostBufferSemantics_kImmutableOnlyDuringCall, wait);
    const StartedRun run = start_run(input, false);
    auto ready = HEPINFER_PJRT_ARGS(PJRT_Buffer_ReadyEvent_Args);
    ready.buffer = run.outputs[0];
    throw_if_error(api_, api_->PJRT_Buffer_ReadyEvent(&ready), "the output's ready event");
    await(ready.event, wait);
    auto pointer = HEPINFER_PJRT_ARGS(PJRT_Buffer_UnsafePointer_Args);
    pointer.buffer = run.outputs[0];
    throw_if_error(api_, api_->PJRT_Buffer_UnsafePointer(&pointer), "the output's address");
    std::memcpy(output_.data(), reinterpret_cast<const void*>(pointer.buffer_pointer), output_.size());
    destroy(input);
    destroy_outputs(run, 0);
  }

  // Whether the last output read in place equals the one PJRT copied (same input every time).
  bool read_in_place_matches_copy() const { return output_ == copied_output_; }

  // A round trip as the XLA backend makes it: everything queued, then every event awaited.
  void round_trip(PJRT_HostBufferSemantics semantics, bool completion, Wait wait) const {
    PJRT_Buffer* input = start_to_device(semantics, wait);
    const StartedRun run = start_run(input, completion);
    PJRT_Event* copied = start_to_host(run.outputs[0]);
    await(run.finished, wait);
    await(copied, wait);
    destroy(input);
    destroy_outputs(run, 0);
  }

  // The memory the program's first output is in ("device", "pinned_host", ...).
  std::string output_memory_kind() const {
    auto memory = HEPINFER_PJRT_ARGS(PJRT_Buffer_Memory_Args);
    memory.buffer = resident_output_;
    throw_if_error(api_, api_->PJRT_Buffer_Memory(&memory), "the output's memory");
    auto kind = HEPINFER_PJRT_ARGS(PJRT_Memory_Kind_Args);
    kind.memory = memory.memory;
    throw_if_error(api_, api_->PJRT_Memory_Kind(&kind), "the output's memory kind");
    return std::string(kind.kind, kind.kind_size);
  }

  PJRT_Memory* memory_of_kind(const std::string& wanted) const {
    auto memories = HEPINFER_PJRT_ARGS(PJRT_Device_AddressableMemories_Args);
    memories.device = device_;
    throw_if_error(api_, api_->PJRT_Device_AddressableMemories(&memories), "listing the device's memories");
    for (std::size_t i = 0; i < memories.num_memories; ++i) {
      auto kind = HEPINFER_PJRT_ARGS(PJRT_Memory_Kind_Args);
      kind.memory = memories.memories[i];
      throw_if_error(api_, api_->PJRT_Memory_Kind(&kind), "a memory's kind");
      if (std::string(kind.kind, kind.kind_size) == wanted) return memories.memories[i];
    }
    throw hepinfer::NotFoundError("the device has no '" + wanted + "' memory");
  }

  PJRT_Buffer* resident_input() const { return resident_input_; }
  PJRT_Buffer* resident_output() const { return resident_output_; }

 private:
  std::shared_ptr<const hepinfer::xla::PjrtClient> client_;
  const PJRT_Api* api_;
  PJRT_Client* native_;
  std::vector<float> input_;
  std::vector<std::int64_t> dims_;
  mutable std::vector<char> output_;
  std::vector<char> copied_output_;  // the first run's output, copied by PJRT
  PJRT_LoadedExecutable* executable_ = nullptr;
  PJRT_Device* device_ = nullptr;
  PJRT_Memory* input_memory_ = nullptr;  // set: inputs go to this memory, not the device's default
  PJRT_Buffer* resident_input_ = nullptr;
  PJRT_Buffer* resident_output_ = nullptr;
};

std::string read_program(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw hepinfer::FileNotFoundError("no program at '" + path + "'");
  std::stringstream code;
  code << file.rdbuf();
  return code.str();
}

nlohmann::json measure(const std::string& device, const std::shared_ptr<const hepinfer::xla::PjrtClient>& client,
                       const std::string& code, std::int64_t columns, double seconds, bool input_in_host = false) {
  const Phases phases(client, code, columns, input_in_host);
  constexpr auto kDuring = PJRT_HostBufferSemantics_kImmutableOnlyDuringCall;
  constexpr auto kUntil = PJRT_HostBufferSemantics_kImmutableUntilTransferCompletes;
  std::vector<std::pair<std::string, std::function<void()>>> steps{
      {"to device (input copied, buffer ready)", [&] { phases.destroy(phases.to_device(kDuring, Wait::kPollThenBlock)); }},
      {"run on a resident input (completion awaited)",
       [&] { phases.destroy(phases.execute(phases.resident_input(), true, Wait::kPollThenBlock)); }},
      {"to host (resident output copied)",
       [&] { phases.await(phases.start_to_host(phases.resident_output()), Wait::kPollThenBlock); }},
      // The XLA backend awaits the completion event on the CUDA plugin; on the CPU plugin it
      // reads the output in place instead (the last step).
      {"round trip, completion event awaited", [&] { phases.round_trip(kDuring, true, Wait::kPollThenBlock); }},
      {"round trip, no completion event", [&] { phases.round_trip(kDuring, false, Wait::kPollThenBlock); }},
      {"round trip, input until transfer completes", [&] { phases.round_trip(kUntil, true, Wait::kPollThenBlock); }},
      {"round trip, blocking waits", [&] { phases.round_trip(kDuring, true, Wait::kBlock); }},
      {"round trip, spinning waits", [&] { phases.round_trip(kDuring, true, Wait::kSpin); }},
  };
  const bool in_place = phases.output_in_host_memory();
  if (in_place) {
    steps.emplace_back("round trip, output read in place", [&] { phases.round_trip_in_place(Wait::kPollThenBlock); });
  }
  nlohmann::json result = {
      {"device", device}, {"output_memory_kind", phases.output_memory_kind()}, {"steps", nlohmann::json::array()}};
  std::cout << device << ": the output is in " << result["output_memory_kind"] << " memory\n";
  for (const auto& [name, step] : steps) {
    const auto summary = hepinfer::bench::summarise(hepinfer::bench::time_calls(step, seconds, 200, 200));
    std::cout << device << ": " << name << ": p50 " << summary.p50_us << " us, p99 " << summary.p99_us << " us\n";
    result["steps"].push_back({{"step", name}, {"p50_us", summary.p50_us}, {"p99_us", summary.p99_us}});
  }
  if (in_place) {
    phases.round_trip_in_place(Wait::kBlock);
    result["read_in_place_matches_copy"] = phases.read_in_place_matches_copy();
    std::cout << device << ": the output read in place " << (phases.read_in_place_matches_copy() ? "equals" : "DIFFERS FROM")
              << " the one PJRT copied\n";
  }
  return result;
}

// Two programs of one float32 [1, 32] input that differ only in what XLA's cost analysis counts:
// 64 flops, which the CPU plugin runs on the caller's thread (under its threshold of 1000), and a
// 32x32 matrix product, 2048 flops, handed to its worker threads. Their round trips differ by
// what the hand-off costs.
std::pair<std::string, std::string> inline_and_handed_off_programs() {
  const std::string inline_program =
      "func.func @main(%x: tensor<1x32xf32>) -> tensor<1x32xf32> {\n"
      "  %0 = stablehlo.multiply %x, %x : tensor<1x32xf32>\n"
      "  %1 = stablehlo.add %0, %x : tensor<1x32xf32>\n"
      "  return %1 : tensor<1x32xf32>\n}\n";
  std::string weights;
  for (int row = 0; row < 32; ++row) {
    weights += row == 0 ? "[" : ", [";
    for (int column = 0; column < 32; ++column) {
      // Distinct values, so that the compiler cannot fold the product into a reduction.
      weights += (column == 0 ? "" : ", ") + std::to_string(0.01 * ((row * 32 + column) % 97) - 0.5);
    }
    weights += "]";
  }
  const std::string handed_off_program =
      "func.func @main(%x: tensor<1x32xf32>) -> tensor<1x32xf32> {\n"
      "  %w = stablehlo.constant dense<[" + weights + "]> : tensor<32x32xf32>\n"
      "  %0 = stablehlo.dot %x, %w : (tensor<1x32xf32>, tensor<32x32xf32>) -> tensor<1x32xf32>\n"
      "  return %0 : tensor<1x32xf32>\n}\n";
  return {inline_program, handed_off_program};
}

// The CPU plugin's hand-off to its threads, on its own: round trips of the two programs above.
nlohmann::json measure_cpu_hand_off(const std::shared_ptr<const hepinfer::xla::PjrtClient>& cpu, double seconds) {
  const auto [inline_program, handed_off_program] = inline_and_handed_off_programs();
  nlohmann::json result = {{"device", "cpu, hand-off probe"}, {"steps", nlohmann::json::array()}};
  for (const auto& [name, code] : {std::pair{"64 flops, run on the caller's thread", inline_program},
                                   std::pair{"2048 flops, handed to the plugin's threads", handed_off_program}}) {
    const Phases phases(cpu, code, 32);
    const auto summary = hepinfer::bench::summarise(
        hepinfer::bench::time_calls([&] { phases.round_trip_in_place(Wait::kPollThenBlock); }, seconds, 200, 200));
    std::cout << "cpu: round trip of a program of " << name << ", output read in place: p50 " << summary.p50_us
              << " us, p99 " << summary.p99_us << " us\n";
    result["steps"].push_back({{"step", std::string("round trip, ") + name}, {"p50_us", summary.p50_us},
                               {"p99_us", summary.p99_us}});
  }
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: bench_pjrt_phases PROGRAM INPUT_COLUMNS OUTPUT.json [--seconds S]\n";
    return 2;
  }
  double seconds = 1.0;
  std::vector<std::int64_t> unused;
  std::string host_output_program, host_io_program;
  const auto other = [&](const std::string& option, const std::string& value) {
    if (option == "--host-output") host_output_program = value;
    if (option == "--host-io") host_io_program = value;
    return option == "--host-output" || option == "--host-io";
  };
  if (!hepinfer::bench::parse_batch_options(argc, argv, 4, "bench_pjrt_phases", seconds, unused, other)) return 2;
  try {
    const std::string code = read_program(argv[1]);
    const std::int64_t columns = std::stoll(argv[2]);
    nlohmann::json report = nlohmann::json::array();
    const auto discovery = hepinfer::scheduler::discover_gpus();
    if (!discovery.inventory.gpus.empty()) {
      const auto& gpu = discovery.inventory.gpus.front();
      const auto plugin = hepinfer::xla::PjrtPlugin::open(hepinfer::xla::cuda_plugin_path());
      const auto client = std::make_shared<const hepinfer::xla::PjrtClient>(
          plugin, hepinfer::xla::cuda_client_options(gpu.id, 1024, gpu.total_mib));
      const std::string name = "gpu " + std::to_string(gpu.id);
      report.push_back(measure(name, client, code, columns, seconds));
      // Each probe on its own: one the plugin refuses must not hide the others' figures.
      for (const auto& [what, path, input_in_host] :
           {std::tuple{"output in pinned host memory", host_output_program, false},
            std::tuple{"input and output in pinned host memory", host_io_program, true}}) {
        if (path.empty()) continue;
        try {
          report.push_back(measure(name + ", " + what, client, read_program(path), columns, seconds, input_in_host));
        } catch (const std::exception& error) {
          std::cout << name << ", " << what << ": " << error.what() << "\n";
          report.push_back({{"device", name + ", " + what}, {"error", error.what()}});
        }
      }
    }
    const auto cpu_plugin = hepinfer::xla::PjrtPlugin::open(hepinfer::xla::cpu_plugin_path());
    const auto cpu = std::make_shared<const hepinfer::xla::PjrtClient>(
        cpu_plugin, hepinfer::xla::PjrtOptions{{"cpu_device_count", std::int64_t{1}}});
    report.push_back(measure("cpu", cpu, code, columns, seconds));
    report.push_back(measure_cpu_hand_off(cpu, seconds));
    std::ofstream(argv[3]) << report.dump(2) << "\n";
  } catch (const std::exception& error) {
    std::cerr << "bench_pjrt_phases: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
