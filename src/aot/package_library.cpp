#include "package_library.h"

#include <dlfcn.h>

#include <filesystem>
#include <memory>

#include "cpu_features.h"
#include "elf_check.h"
#include "hepinfer/core/error.h"
#include "nlohmann/json.hpp"

namespace hepinfer::aot::detail {
namespace {

namespace fs = std::filesystem;

std::string joined(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "" : " ") + name;
  return text;
}

// The manifest's interface as the library's description writes it (compile_aot.py).
nlohmann::json described_tensors(const std::vector<TensorInfo>& tensors) {
  nlohmann::json list = nlohmann::json::array();
  for (const TensorInfo& tensor : tensors) {
    nlohmann::json entry = {{"name", tensor.key}, {"dtype", std::string(dtype_name(tensor.dtype))},
                            {"shape", tensor.shape.dims()}};
    if (tensor.index_range) entry["index_range"] = {tensor.index_range->low, tensor.index_range->high};
    list.push_back(std::move(entry));
  }
  return list;
}

// The bytes of `tensor` at a batch of `rows`; a per-call input's (its first dimension known) at any.
std::int64_t bytes_at(const TensorInfo& tensor, std::int64_t rows) {
  const bool follows_batch = tensor.shape.rank() > 0 && tensor.shape[0] == Shape::kUnknownDim;
  std::int64_t elements = follows_batch ? rows : 1;
  for (std::size_t d = follows_batch ? 1 : 0; d < tensor.shape.rank(); ++d) elements *= tensor.shape[d];
  return elements * static_cast<std::int64_t>(dtype_size(tensor.dtype));
}

}  // namespace

PackageLibrary::PackageLibrary(const PackageManifest& manifest) {
  const std::string package = "AOT package '" + manifest.directory.string() + "'";
  // Before any of its code runs: a static initialiser compiled for AVX-512 dies of SIGILL without it.
  if (const std::vector<std::string> missing = missing_features(manifest.cpu_features); !missing.empty()) {
    throw UnsupportedError(package + " was compiled for " + manifest.cpu_level + " and needs CPU features this CPU " +
                           "lacks: " + joined(missing) + "; compile it again with --target-cpu for this machine " +
                           "(e.g. native or x86-64-v2)");
  }
  if (manifest.abi_version != HEPINFER_AOT_ABI_VERSION) {
    throw InvalidModelError(package + ": library ABI version " + std::to_string(manifest.abi_version) +
                            ", this hepinfer reads version " + std::to_string(HEPINFER_AOT_ABI_VERSION) +
                            "; compile the model again");
  }
  std::error_code ec;
  const auto bytes = fs::file_size(manifest.library, ec);
  if (ec || static_cast<std::int64_t>(bytes) != manifest.library_bytes) {
    throw InvalidModelError(package + ": library '" + manifest.library.string() + "' has " +
                            (ec ? std::string("no readable size") : std::to_string(bytes) + " bytes") +
                            ", the manifest says " + std::to_string(manifest.library_bytes) +
                            " (truncated, or replaced after compiling)");
  }
  check_loadable_elf(manifest.library, package);
  handle_ = dlopen(fs::absolute(manifest.library).c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (handle_ == nullptr) {
    const char* why = dlerror();
    throw InvalidModelError(package + ": cannot open library '" + manifest.library.string() +
                            "': " + (why != nullptr ? why : "unknown reason"));
  }
  try {
    dlerror();
    void* entry = dlsym(handle_, HEPINFER_AOT_ENTRY);
    if (entry == nullptr) {
      throw InvalidModelError(package + ": library '" + manifest.library.string() + "' has no entry point " +
                              HEPINFER_AOT_ENTRY + " (not built by hepinfer compile --target cpu-aot, or damaged)");
    }
    table_ = reinterpret_cast<HepinferAotEntry>(entry)();
    if (table_ == nullptr) throw InvalidModelError(package + ": the library's entry point returned no table");
    check_against(manifest);
  } catch (...) {
    dlclose(handle_);
    throw;
  }
}

PackageLibrary::~PackageLibrary() { dlclose(handle_); }

void PackageLibrary::check_against(const PackageManifest& manifest) const {
  const std::string package = "AOT package '" + manifest.directory.string() + "'";
  const auto mismatch = [&](const std::string& what) {
    throw InvalidModelError(package + ": the library '" + manifest.library.filename().string() + "' and the manifest '" +
                            manifest.manifest.string() +
                            "' disagree on " + what + " (edited, or files from two compilations)");
  };
  if (table_->abi_version != HEPINFER_AOT_ABI_VERSION) mismatch("the ABI version");
  nlohmann::json description;
  try {
    description = nlohmann::json::parse(table_->description != nullptr ? table_->description : "");
  } catch (const nlohmann::json::exception&) {
    mismatch("everything: the library's description is not JSON");
  }
  if (description.value("package_id", std::string()) != manifest.package_id) mismatch("the package id");
  if (description.value("batch_sizes", nlohmann::json()) != nlohmann::json(manifest.batch_sizes)) {
    mismatch("the batch sizes");
  }
  if (description.value("cpu_features", nlohmann::json()) != nlohmann::json(manifest.cpu_features)) {
    mismatch("the CPU features");
  }
  if (description.value("inputs", nlohmann::json()) != described_tensors(manifest.signature.inputs)) {
    mismatch("the inputs");
  }
  if (description.value("outputs", nlohmann::json()) != described_tensors(manifest.signature.outputs)) {
    mismatch("the outputs");
  }
  if (table_->batch_count != static_cast<std::int32_t>(manifest.batch_sizes.size()) ||
      table_->num_inputs != static_cast<std::int32_t>(manifest.signature.inputs.size()) ||
      table_->num_outputs != static_cast<std::int32_t>(manifest.signature.outputs.size())) {
    mismatch("the number of batch sizes, inputs or outputs");
  }
  // The compiled functions' own buffer sizes: what runs will read and write.
  for (std::int32_t b = 0; b < table_->batch_count; ++b) {
    const std::int64_t rows = manifest.batch_sizes[static_cast<std::size_t>(b)];
    if (table_->batch_sizes[b] != rows) mismatch("the batch sizes");
    const std::unique_ptr<void, void (*)(void*)> function(table_->create(b), table_->destroy);
    if (function == nullptr) {
      throw ResourceExhaustedError(package + ": cannot allocate the buffers of the function for batch " +
                                   std::to_string(rows));
    }
    for (std::int32_t i = 0; i < table_->num_inputs; ++i) {
      const TensorInfo& input = manifest.signature.inputs[static_cast<std::size_t>(i)];
      if (table_->input_bytes(function.get(), i) != bytes_at(input, rows)) {
        mismatch("the size of input '" + input.key + "' at batch " + std::to_string(rows));
      }
    }
    for (std::int32_t o = 0; o < table_->num_outputs; ++o) {
      const TensorInfo& output = manifest.signature.outputs[static_cast<std::size_t>(o)];
      if (table_->output_bytes(function.get(), o) != bytes_at(output, rows)) {
        mismatch("the size of output '" + output.key + "' at batch " + std::to_string(rows));
      }
    }
  }
}

}  // namespace hepinfer::aot::detail
