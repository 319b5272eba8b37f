#pragma once
// Loading an ahead-of-time compiled package (`hepinfer compile MODEL -o OUT.aot --target cpu-aot`,
// tools/compile_aot.py: XLA's AOT compiler, as CMSSW's TFAOT) as a hepinfer::Model whose runs are
// plain function calls on the caller's thread: no session, no graph executor, no thread started,
// ever. No TensorFlow or XLA header is included from here; builds without TensorFlow.
//
// A package is a directory: manifest.json and one shared library holding one compiled function
// per batch size, or one such library per CPU level it was compiled for (--target-cpu
// x86-64-v3,x86-64-v4): the highest level whose features this CPU has is loaded, else the
// baseline. Loading checks, in this order and before any of the package's code runs:
// the manifest (typed errors naming the field), that this CPU has every instruction-set feature
// the package was compiled for (UnsupportedError naming the missing ones: running it would die of
// an illegal instruction), and the library's size; then it opens the library (dlopen), binds its
// one entry point, and checks that the library describes the same interface and package id as the
// manifest (an edited manifest or a library swapped in is InvalidModelError).
//
// A run of any row count goes to the smallest compiled batch size that holds it (padded with
// zeros, outputs cut back) or is split over the largest; an empty batch runs nothing. run() is
// thread-safe: each concurrent caller borrows a compiled-function instance (its own scratch and
// result buffers) from a pool that grows to the number of callers that ever ran at once. Inputs
// that are 64-byte aligned and fill a compiled batch are read in place; others are copied into
// the instance's buffers. Outputs are copied out into new tensors.
//
// Of LoadOptions the AOT backend reads `warmup_runs`/`warmup_batch_sizes` (which also fill the
// pool) and `placement` (a GPU placement runs on the CPU, and ModelInfo::placement_note says so).
// Threading modes do not apply: the model always runs inline.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hepinfer/core/load_options.h"
#include "hepinfer/core/model.h"

namespace hepinfer::aot {

// What a package says about itself, from its manifest.
struct PackageInfo {
  std::filesystem::path library;
  std::vector<std::int64_t> batch_sizes;    // increasing
  std::string cpu_level;                     // of the library loaded, e.g. "x86-64-v4"
  std::vector<std::string> cpu_features;     // /proc/cpuinfo names that library needs, e.g. "avx2"
  std::vector<std::string> compiled_levels;  // every level the package has a library for, baseline first
  std::string source;                        // the model it was compiled from
  std::string tensorflow_version;            // of the compiler
  std::string package_id;
};

// Throws FileNotFoundError, InvalidModelError (a malformed manifest or library, naming it),
// UnsupportedError (this CPU lacks a feature the package needs, naming it); never returns a
// half-initialised model.
std::unique_ptr<Model> load_model(const std::filesystem::path& package, const LoadOptions& options = {});

// True if `path` is a directory whose manifest says it is an AOT package.
bool is_aot_package(const std::filesystem::path& path);

// The package behind `model`; empty if it is not an AOT model.
std::optional<PackageInfo> package_info(const Model& model);

// How many compiled-function instances `model`'s pool holds (grows with concurrent callers);
// empty if it is not an AOT model.
std::optional<std::size_t> pooled_instances(const Model& model);

// The instruction-set features this CPU has, as /proc/cpuinfo names them.
std::vector<std::string> host_cpu_features();

}  // namespace hepinfer::aot
