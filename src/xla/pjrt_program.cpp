#include "pjrt_program.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "hepinfer/core/error.h"

namespace hepinfer::xla::detail {
namespace {

DType dtype_of(PJRT_Buffer_Type type, const std::string& what) {
  switch (type) {
    case PJRT_Buffer_Type_F32: return DType::kFloat32;
    case PJRT_Buffer_Type_F64: return DType::kFloat64;
    case PJRT_Buffer_Type_S32: return DType::kInt32;
    case PJRT_Buffer_Type_S64: return DType::kInt64;
    case PJRT_Buffer_Type_PRED: return DType::kBool;
    case PJRT_Buffer_Type_F16: return DType::kFloat16;
    case PJRT_Buffer_Type_S8: return DType::kInt8;
    case PJRT_Buffer_Type_S16: return DType::kInt16;
    case PJRT_Buffer_Type_U8: return DType::kUInt8;
    case PJRT_Buffer_Type_U16: return DType::kUInt16;
    default: throw UnsupportedError(what + " returned an element type hepinfer does not handle (PJRT type " +
                                    std::to_string(static_cast<int>(type)) + ")");
  }
}

// Events of one run, awaited together: the input copies, the run and the output copies are
// queued at once (the device does them in order anyway) and the caller waits once, at the end.
// Awaits whatever is left when destroyed, so no copy still writes into memory its caller has
// released.
class PendingEvents {
 public:
  explicit PendingEvents(const PJRT_Api* api) : api_(api) {}
  ~PendingEvents() {
    try {
      await_all();
    } catch (const Error&) {  // the run is already failing with its first error
    }
  }
  PendingEvents(const PendingEvents&) = delete;
  PendingEvents& operator=(const PendingEvents&) = delete;

  void add(PJRT_Event* event, std::string context) {
    if (event != nullptr) events_.emplace_back(event, std::move(context));
  }
  // Awaits every event, then throws the first error among them.
  void await_all() {
    std::exception_ptr first_error;
    for (auto& [event, context] : events_) {
      try {
        await_event(api_, event, context);
      } catch (const Error&) {
        if (!first_error) first_error = std::current_exception();
      }
    }
    events_.clear();
    if (first_error) std::rethrow_exception(first_error);
  }

 private:
  const PJRT_Api* api_;
  std::vector<std::pair<PJRT_Event*, std::string>> events_;
};

// Queues the copy of `buffer` into `output`.
void start_copy(const PJRT_Api* api, PJRT_Buffer* buffer, Tensor& output, PendingEvents& pending,
                const std::string& what) {
  auto to_host = HEPINFER_PJRT_ARGS(PJRT_Buffer_ToHostBuffer_Args);
  to_host.src = buffer;
  to_host.dst = output.raw_data();
  to_host.dst_size = output.byte_size();
  throw_if_error(api, api->PJRT_Buffer_ToHostBuffer(&to_host), "copying an output of " + what);
  pending.add(to_host.event, "copying an output of " + what);
}

// Where a ready `buffer` in host memory holds `output`'s bytes as they are (dense, row-major, of
// its size); null, with the reason in `why`, if it does not. `expected_memory` (null on the CPU
// plugin, whose device memory is the host's) is where the buffer must lie: an address in a GPU's
// own memory must never be read from the host.
const void* dense_host_data(const PJRT_Api* api, PJRT_Buffer* buffer, const Tensor& output,
                            PJRT_Memory* expected_memory, std::string& why) {
  if (expected_memory != nullptr) {
    if (!HEPINFER_PJRT_HAS(api, PJRT_Buffer_Memory)) {
      why = "the plugin cannot say in which memory an output lies";
      return nullptr;
    }
    auto memory = HEPINFER_PJRT_ARGS(PJRT_Buffer_Memory_Args);
    memory.buffer = buffer;
    if (!succeeded(api, api->PJRT_Buffer_Memory(&memory)) || memory.memory != expected_memory) {
      why = "an output the executable places in pinned host memory lies elsewhere";
      return nullptr;
    }
  }
  auto size = HEPINFER_PJRT_ARGS(PJRT_Buffer_OnDeviceSizeInBytes_Args);
  size.buffer = buffer;
  if (!succeeded(api, api->PJRT_Buffer_OnDeviceSizeInBytes(&size)) ||
      size.on_device_size_in_bytes != output.byte_size()) {
    why = "an output's size in memory differs from its tensor's";
    return nullptr;
  }
  auto layout = HEPINFER_PJRT_ARGS(PJRT_Buffer_GetMemoryLayout_Args);
  layout.buffer = buffer;
  if (!succeeded(api, api->PJRT_Buffer_GetMemoryLayout(&layout)) ||
      layout.layout.type != PJRT_Buffer_MemoryLayout_Type_Tiled || layout.layout.tiled.num_tiles != 0) {
    why = "an output's memory layout is not plain (or the plugin does not say)";
    return nullptr;
  }
  // Row-major: the last dimension varies fastest.
  const std::size_t rank = output.shape().rank();
  bool row_major = layout.layout.tiled.minor_to_major_size == rank;
  for (std::size_t i = 0; row_major && i < rank; ++i) {
    row_major = layout.layout.tiled.minor_to_major[i] == static_cast<std::int64_t>(rank - 1 - i);
  }
  if (!row_major) {
    why = "an output is not row-major";
    return nullptr;
  }
  auto pointer = HEPINFER_PJRT_ARGS(PJRT_Buffer_UnsafePointer_Args);
  pointer.buffer = buffer;
  if (!succeeded(api, api->PJRT_Buffer_UnsafePointer(&pointer)) || pointer.buffer_pointer == 0) {
    why = "the plugin gives no address for an output";
    return nullptr;
  }
  return reinterpret_cast<const void*>(pointer.buffer_pointer);
}

const PJRT_Api* api_of(const PjrtClient& client) { return static_cast<const PJRT_Api*>(client.plugin().api()); }

// The compiler's memory figures for `executable`; none when the plugin predates them or does not
// implement them (an optional figure: its error is dropped, not raised).
std::optional<CompiledMemory> compiled_memory_of(const PJRT_Api* api, PJRT_Executable* executable) {
  if (!HEPINFER_PJRT_HAS(api, PJRT_Executable_GetCompiledMemoryStats)) return std::nullopt;
  auto stats = HEPINFER_PJRT_ARGS(PJRT_Executable_GetCompiledMemoryStats_Args);
  stats.executable = executable;
  if (PJRT_Error* error = api->PJRT_Executable_GetCompiledMemoryStats(&stats)) {
    try {
      throw_if_error(api, error, "reading compiled memory statistics");
    } catch (const Error&) {  // released; the figures are simply unknown
    }
    return std::nullopt;
  }
  return CompiledMemory{.argument_bytes = stats.argument_size_in_bytes,
                        .output_bytes = stats.output_size_in_bytes,
                        .alias_bytes = stats.alias_size_in_bytes,
                        .temp_bytes = stats.temp_size_in_bytes,
                        .code_bytes = stats.generated_code_size_in_bytes};
}

// A PJRT_Executable borrowed from a loaded executable, released when done.
class ExecutableView {
 public:
  ExecutableView(const PJRT_Api* api, PJRT_Executable* executable) : api_(api), executable_(executable) {}
  ~ExecutableView() {
    auto destroy = HEPINFER_PJRT_ARGS(PJRT_Executable_Destroy_Args);
    destroy.executable = executable_;
    succeeded(api_, api_->PJRT_Executable_Destroy(&destroy));
  }
  ExecutableView(const ExecutableView&) = delete;
  ExecutableView& operator=(const ExecutableView&) = delete;

 private:
  const PJRT_Api* api_;
  PJRT_Executable* executable_;
};

// The memory kind of each output of `executable` ("device", "pinned_host", ...); empty where the
// plugin does not say.
std::vector<std::string> output_memory_kinds(const PJRT_Api* api, PJRT_Executable* executable) {
  if (!HEPINFER_PJRT_HAS(api, PJRT_Executable_OutputMemoryKinds)) return {};
  auto kinds = HEPINFER_PJRT_ARGS(PJRT_Executable_OutputMemoryKinds_Args);
  kinds.executable = executable;
  if (!succeeded(api, api->PJRT_Executable_OutputMemoryKinds(&kinds))) return {};
  std::vector<std::string> result;
  for (std::size_t i = 0; i < kinds.num_outputs; ++i) result.emplace_back(kinds.memory_kinds[i], kinds.memory_kind_sizes[i]);
  return result;
}

// `device`'s memory of `kind`; NotFoundError naming the kinds it has if there is none.
PJRT_Memory* memory_of_kind(const PJRT_Api* api, PJRT_Device* device, const std::string& kind,
                            const std::string& what) {
  if (!HEPINFER_PJRT_HAS(api, PJRT_Device_AddressableMemories) || !HEPINFER_PJRT_HAS(api, PJRT_Memory_Kind)) {
    throw UnsupportedError(what + " takes its inputs in " + kind + " memory, and the PJRT plugin cannot name its "
                           "device's memories");
  }
  auto memories = HEPINFER_PJRT_ARGS(PJRT_Device_AddressableMemories_Args);
  memories.device = device;
  throw_if_error(api, api->PJRT_Device_AddressableMemories(&memories), "listing the memories of the device for " + what);
  std::string kinds;
  for (std::size_t i = 0; i < memories.num_memories; ++i) {
    auto memory_kind = HEPINFER_PJRT_ARGS(PJRT_Memory_Kind_Args);
    memory_kind.memory = memories.memories[i];
    throw_if_error(api, api->PJRT_Memory_Kind(&memory_kind), "reading a memory's kind for " + what);
    const std::string found(memory_kind.kind, memory_kind.kind_size);
    if (found == kind) return memories.memories[i];
    kinds += (kinds.empty() ? "" : ", ") + found;
  }
  throw NotFoundError(what + " takes its inputs in " + kind + " memory, which the device does not have (it has " +
                      (kinds.empty() ? std::string("none listed") : kinds) + ")");
}

}  // namespace

std::string compile_options_for(const PjrtClient& client) {
  // executable_build_options (3) {num_replicas (4): 1, num_partitions (5): 1}
  std::string options("\x1a\x04\x20\x01\x28\x01", 6);
  const char* xla_flags = std::getenv("XLA_FLAGS");
  const bool chosen_by_user = xla_flags != nullptr && std::strstr(xla_flags, "xla_cpu_enable_fast_min_max") != nullptr;
  if (client.platform_name() == "cpu" && !chosen_by_user) {
    // env_option_overrides (7): {key (1): the DebugOptions field, value (2): {bool_field (2): false}},
    // applied by the plugin over its defaults and XLA_FLAGS.
    const std::string name = "xla_cpu_enable_fast_min_max";
    const std::string entry =
        std::string("\x0a", 1) + static_cast<char>(name.size()) + name + std::string("\x12\x02\x10\x00", 4);
    options += std::string("\x3a", 1) + static_cast<char>(entry.size()) + entry;
  }
  return options;
}

std::unique_ptr<PjrtProgram> PjrtProgram::compile(std::shared_ptr<const PjrtClient> client, const std::string& code,
                                                  const std::string& format, std::string what, InputMemory inputs,
                                                  std::shared_ptr<const ResidentWeights> weights) {
  const PJRT_Api* api = api_of(*client);
  auto program = HEPINFER_PJRT_ARGS(PJRT_Program);
  std::string code_copy = code;  // PJRT_Program::code is not const
  program.code = code_copy.data();
  program.code_size = code_copy.size();
  program.format = format.c_str();
  program.format_size = format.size();
  auto compile = HEPINFER_PJRT_ARGS(PJRT_Client_Compile_Args);
  compile.client = static_cast<PJRT_Client*>(client->native_handle());
  compile.program = &program;
  const std::string options = compile_options_for(*client);
  compile.compile_options = options.data();
  compile.compile_options_size = options.size();
  throw_if_error(api, api->PJRT_Client_Compile(&compile), "compiling " + what);
  return std::unique_ptr<PjrtProgram>(
      new PjrtProgram(std::move(client), compile.executable, std::move(what), inputs, std::move(weights)));
}

std::unique_ptr<PjrtProgram> PjrtProgram::deserialize(std::shared_ptr<const PjrtClient> client,
                                                      const std::string& bytes, std::string what, InputMemory inputs,
                                                      std::shared_ptr<const ResidentWeights> weights) {
  const PJRT_Api* api = api_of(*client);
  if (!HEPINFER_PJRT_HAS(api, PJRT_Executable_DeserializeAndLoad)) {
    throw UnsupportedError("PJRT plugin '" + client->plugin().info().path.string() +
                           "' cannot load serialized executables");
  }
  auto load = HEPINFER_PJRT_ARGS(PJRT_Executable_DeserializeAndLoad_Args);
  load.client = static_cast<PJRT_Client*>(client->native_handle());
  load.serialized_executable = bytes.data();
  load.serialized_executable_size = bytes.size();
  throw_if_error(api, api->PJRT_Executable_DeserializeAndLoad(&load), "loading the compiled " + what);
  return std::unique_ptr<PjrtProgram>(
      new PjrtProgram(std::move(client), load.loaded_executable, std::move(what), inputs, std::move(weights)));
}

PjrtProgram::PjrtProgram(std::shared_ptr<const PjrtClient> client, PJRT_LoadedExecutable* executable, std::string what,
                         InputMemory inputs, std::shared_ptr<const ResidentWeights> weights)
    : client_(std::move(client)), what_(std::move(what)), executable_(executable), weights_(std::move(weights)) {
  try {
    describe_executable(inputs);
  } catch (...) {
    auto destroy = HEPINFER_PJRT_ARGS(PJRT_LoadedExecutable_Destroy_Args);
    destroy.executable = executable_;
    succeeded(api(), api()->PJRT_LoadedExecutable_Destroy(&destroy));
    throw;
  }
}

void PjrtProgram::describe_executable(InputMemory inputs) {
  device_ = first_device(api(), static_cast<PJRT_Client*>(client_->native_handle()), what_);
  on_cpu_ = client_->platform_name() == "cpu";
  if (inputs == InputMemory::kPinnedHost) input_memory_ = memory_of_kind(api(), device_, "pinned_host", what_);
  auto get = HEPINFER_PJRT_ARGS(PJRT_LoadedExecutable_GetExecutable_Args);
  get.loaded_executable = executable_;
  throw_if_error(api(), api()->PJRT_LoadedExecutable_GetExecutable(&get), "reading the outputs of " + what_);
  const ExecutableView executable(api(), get.executable);
  auto outputs = HEPINFER_PJRT_ARGS(PJRT_Executable_NumOutputs_Args);
  outputs.executable = get.executable;
  throw_if_error(api(), api()->PJRT_Executable_NumOutputs(&outputs), "reading the outputs of " + what_);
  num_outputs_ = outputs.num_outputs;
  compiled_memory_ = compiled_memory_of(api(), get.executable);
  if (compiled_memory_ && weights_) compiled_memory_->resident_argument_bytes = weights_->bytes();
  const std::vector<std::string> kinds = output_memory_kinds(api(), get.executable);
  const bool can_read_in_place = HEPINFER_PJRT_HAS(api(), PJRT_Buffer_ReadyEvent) &&
                                 HEPINFER_PJRT_HAS(api(), PJRT_Buffer_UnsafePointer) &&
                                 HEPINFER_PJRT_HAS(api(), PJRT_Buffer_OnDeviceSizeInBytes) &&
                                 HEPINFER_PJRT_HAS(api(), PJRT_Buffer_GetMemoryLayout);
  const bool any_in_pinned_host = std::find(kinds.begin(), kinds.end(), "pinned_host") != kinds.end();
  if (!on_cpu_ && can_read_in_place && any_in_pinned_host) {
    try {
      pinned_host_memory_ = memory_of_kind(api(), device_, "pinned_host", what_);
    } catch (const Error& error) {  // then such outputs are copied through PJRT, like any other
      note_copied_output(error.what());
    }
  }
  for (std::size_t i = 0; i < num_outputs_; ++i) {
    const bool in_pinned_host = !on_cpu_ && i < kinds.size() && kinds[i] == "pinned_host";
    read_in_place_.push_back(can_read_in_place && (on_cpu_ || (in_pinned_host && pinned_host_memory_ != nullptr)));
  }
}

std::optional<std::string> PjrtProgram::copied_instead_of_read_in_place() const {
  if (!copied_an_output_.load(std::memory_order_acquire)) return std::nullopt;
  const std::lock_guard lock(copied_why_mutex_);
  return copied_why_;
}

void PjrtProgram::note_copied_output(const std::string& why) const {
  if (copied_an_output_.load(std::memory_order_acquire)) return;
  const std::lock_guard lock(copied_why_mutex_);
  if (copied_why_.empty()) copied_why_ = why;
  copied_an_output_.store(true, std::memory_order_release);
}

bool PjrtProgram::outputs_in_pinned_host() const {
  return !on_cpu_ && num_outputs_ > 0 &&
         std::all_of(read_in_place_.begin(), read_in_place_.end(), [](bool in_place) { return in_place; });
}

std::string PjrtProgram::serialize() const {
  if (!HEPINFER_PJRT_HAS(api(), PJRT_Executable_Serialize)) {
    throw UnsupportedError("PJRT plugin '" + client_->plugin().info().path.string() +
                           "' cannot serialize executables");
  }
  auto get = HEPINFER_PJRT_ARGS(PJRT_LoadedExecutable_GetExecutable_Args);
  get.loaded_executable = executable_;
  throw_if_error(api(), api()->PJRT_LoadedExecutable_GetExecutable(&get), "serializing " + what_);
  const ExecutableView executable(api(), get.executable);
  auto serialize = HEPINFER_PJRT_ARGS(PJRT_Executable_Serialize_Args);
  serialize.executable = get.executable;
  throw_if_error(api(), api()->PJRT_Executable_Serialize(&serialize), "serializing " + what_);
  std::string bytes(serialize.serialized_bytes, serialize.serialized_bytes_size);
  if (serialize.serialized_executable_deleter != nullptr) {
    serialize.serialized_executable_deleter(serialize.serialized_executable);
  }
  return bytes;
}

PjrtProgram::~PjrtProgram() {
  auto destroy = HEPINFER_PJRT_ARGS(PJRT_LoadedExecutable_Destroy_Args);
  destroy.executable = executable_;
  if (PJRT_Error* error = api()->PJRT_LoadedExecutable_Destroy(&destroy)) {
    try {
      throw_if_error(api(), error, "destroying " + what_);
    } catch (const Error&) {  // nothing to do; the error object is released
    }
  }
}

const PJRT_Api* PjrtProgram::api() const { return static_cast<const PJRT_Api*>(client_->plugin().api()); }

std::vector<Tensor> PjrtProgram::run(const std::vector<Tensor>& inputs) const {
  auto* const native = static_cast<PJRT_Client*>(client_->native_handle());
  // Destroyed in reverse: the pending events are awaited before the outputs they fill are freed.
  std::vector<Tensor> outputs;
  PendingEvents pending(api());
  std::vector<DeviceBuffer> arguments;
  arguments.reserve(inputs.size());
  for (const Tensor& input : inputs) {
    auto copy = HEPINFER_PJRT_ARGS(PJRT_Client_BufferFromHostBuffer_Args);
    copy.client = native;
    copy.data = input.raw_data();
    copy.type = buffer_type(input.dtype());
    copy.dims = input.shape().dims().data();
    copy.num_dims = input.shape().rank();
    copy.host_buffer_semantics = PJRT_HostBufferSemantics_kImmutableOnlyDuringCall;
    copy.device = device_;
    copy.memory = input_memory_;  // null: the device's default memory
    throw_if_error(api(), api()->PJRT_Client_BufferFromHostBuffer(&copy), "copying an input of " + what_);
    arguments.emplace_back(api(), copy.buffer);
    pending.add(copy.done_with_host_buffer, "copying an input of " + what_);
  }

  std::vector<PJRT_Buffer*> argument_list;
  for (const DeviceBuffer& argument : arguments) argument_list.push_back(argument.get());
  if (weights_) argument_list.insert(argument_list.end(), weights_->buffers().begin(), weights_->buffers().end());
  std::vector<PJRT_Buffer*> output_list(num_outputs_, nullptr);
  PJRT_Buffer* const* argument_lists[1] = {argument_list.data()};
  PJRT_Buffer** output_lists[1] = {output_list.data()};
  PJRT_Event* finished[1] = {nullptr};
  auto options = HEPINFER_PJRT_ARGS(PJRT_ExecuteOptions);
  // The weights serve every run: a program that donated one to an output would free it after its first.
  std::vector<std::int64_t> weight_indices;
  if (weights_) {
    for (std::size_t i = inputs.size(); i < argument_list.size(); ++i) {
      weight_indices.push_back(static_cast<std::int64_t>(i));
    }
    options.non_donatable_input_indices = weight_indices.data();
    options.num_non_donatable_input_indices = weight_indices.size();
  }
  auto execute = HEPINFER_PJRT_ARGS(PJRT_LoadedExecutable_Execute_Args);
  execute.executable = executable_;
  execute.options = &options;
  execute.argument_lists = argument_lists;
  execute.num_devices = 1;
  execute.num_args = argument_list.size();
  execute.output_lists = output_lists;
  // The outputs' copies (on the CPU plugin, their ready events) end after the run and carry its
  // errors. On the CPU plugin waiting for the run's own event as well costs a wake-up, a fifth of
  // a one-row MLP's round trip (40 against 32 us, bench_pjrt_phases on the H200 host); on the
  // CUDA plugin it changed nothing measurable.
  if (num_outputs_ == 0 || !on_cpu_) execute.device_complete_events = finished;
  throw_if_error(api(), api()->PJRT_LoadedExecutable_Execute(&execute), "running " + what_);
  std::vector<DeviceBuffer> results;
  for (PJRT_Buffer* output : output_list) results.emplace_back(api(), output);
  pending.add(finished[0], "running " + what_);

  // Output buffers have their shapes before the run ends. On the CPU plugin an output is read
  // where it lies once ready: a copy through PJRT_Buffer_ToHostBuffer is handed to the plugin's
  // thread pool and costs a wake-up, 3 of a one-row MLP's 21 us (bench_pjrt_phases). So is an
  // output a GPU program wrote to pinned host memory. Other outputs' copies queue behind the run.
  outputs.reserve(results.size());
  for (std::size_t i = 0; i < results.size(); ++i) {
    const DeviceBuffer& result = results[i];
    auto type = HEPINFER_PJRT_ARGS(PJRT_Buffer_ElementType_Args);
    type.buffer = result.get();
    throw_if_error(api(), api()->PJRT_Buffer_ElementType(&type), "reading an output of " + what_);
    auto dimensions = HEPINFER_PJRT_ARGS(PJRT_Buffer_Dimensions_Args);
    dimensions.buffer = result.get();
    throw_if_error(api(), api()->PJRT_Buffer_Dimensions(&dimensions), "reading an output of " + what_);
    Tensor& output = outputs.emplace_back(
        dtype_of(type.type, what_),
        Shape(std::vector<std::int64_t>(dimensions.dims, dimensions.dims + dimensions.num_dims)));
    if (read_in_place_[i]) {
      auto ready = HEPINFER_PJRT_ARGS(PJRT_Buffer_ReadyEvent_Args);
      ready.buffer = result.get();
      throw_if_error(api(), api()->PJRT_Buffer_ReadyEvent(&ready), "running " + what_);
      pending.add(ready.event, "running " + what_);
    } else {
      start_copy(api(), result.get(), output, pending, what_);
    }
  }
  pending.await_all();
  if (std::find(read_in_place_.begin(), read_in_place_.end(), true) != read_in_place_.end()) {
    // Only now: asked before the run ends, these queries wait for it (a one-row MLP then took
    // 30-50 us instead of 18).
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (!read_in_place_[i] || outputs[i].byte_size() == 0) continue;
      std::string why;
      if (const void* data = dense_host_data(api(), results[i].get(), outputs[i], pinned_host_memory_, why)) {
        std::memcpy(outputs[i].raw_data(), data, outputs[i].byte_size());
      } else {
        note_copied_output(why);
        start_copy(api(), results[i].get(), outputs[i], pending, what_);
      }
    }
    pending.await_all();
  }
  return outputs;
}

}  // namespace hepinfer::xla::detail
