#pragma once
// What every backend is told when it loads a model: backend-neutral options and the placement
// the device plan gave the model's module. Each backend maps them onto its runtime (the
// TensorFlow backend: session options, virtual GPUs, pinned nodes); options a backend has no use
// for are ignored by it and documented as such in its header.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "hepinfer/core/model.h"

namespace hepinfer {

// How an https:// inference server is trusted, and how the client proves who it is to servers
// that ask (the remote backend's TLS). Empty fields: the defaults.
struct TlsOptions {
  std::string ca_file;           // PEM certificates to trust; empty: the system's, or $SSL_CERT_FILE / $SSL_CERT_DIR
  std::string certificate_file;  // this client's certificate chain (PEM); empty: none
  std::string private_key_file;  // its private key (PEM, unencrypted); empty: read from certificate_file
};

// A model as inference servers serve it: its name and, to pin one, its version (the Open
// Inference Protocol's /v2/models/NAME/versions/VERSION). An empty version leaves the choice to
// each server (Triton: its version policy, by default the latest). Converts from a bare name.
struct ServedModel {
  std::string name;
  std::string version;  // empty: whichever the server serves by default

  ServedModel() = default;
  ServedModel(std::string model_name, std::string model_version = {})  // NOLINT: a name is a ServedModel
      : name(std::move(model_name)), version(std::move(model_version)) {}
  ServedModel(const char* model_name) : name(model_name) {}  // NOLINT

  bool operator==(const ServedModel&) const = default;
  // For messages: "'tagger'" or "'tagger' version 3".
  std::string description() const { return "'" + name + "'" + (version.empty() ? "" : " version " + version); }
};

// An inference server a module's model is sent to (the remote backend speaks to it).
struct ServerPlacement {
  std::string name;
  std::string url;         // "http://HOST:PORT" or "https://HOST:PORT"
  TlsOptions tls;          // https only
  std::string token_file;  // a bearer token sent with every request (https, or loopback); empty: none
};

// Where a module's model runs, as the device plan decided (scheduler::Assignment is a Placement
// plus the reason). No GPU ids: the CPU. With servers, the model runs on the first of them, the
// others (then, if `local_fallback`, the local devices) taking over when it fails.
struct Placement {
  std::string module;                    // named in messages
  std::vector<int> devices;              // GPU ids (CUDA ordinals); empty: CPU
  std::vector<std::int64_t> memory_mib;  // per entry of `devices`
  std::vector<ServerPlacement> servers;  // in failover order; empty: runs locally
  ServedModel served_model;              // what the servers serve the model as
  bool local_fallback = true;            // with servers: may run locally when every server fails

  bool on_cpu() const { return devices.empty(); }
  bool on_server() const { return !servers.empty(); }
  // The memory of the `gpu_index`-th GPU in bytes (a batch-splitting budget); 0 on CPU.
  std::int64_t memory_bytes(std::size_t gpu_index = 0) const {
    return gpu_index < memory_mib.size() ? memory_mib[gpu_index] * 1024 * 1024 : 0;
  }
};

struct LoadOptions {
  // Default signature for runs that name none. Empty: "serving_default" if the model has it,
  // otherwise its only signature.
  std::string signature;
  // MetaGraph tags selecting the graph inside a SavedModel.
  std::vector<std::string> tags{"serve"};
  // Default threading mode of the model's runs (RunOptions::threading overrides it per run).
  ThreadingMode threading = ThreadingMode::kInline;
  // Runs on zero-valued inputs of the default signature before loading returns, so that one-time
  // graph optimisation is not paid by the first event. Unknown non-batch dimensions are taken as 1.
  int warmup_runs = 0;
  std::vector<std::int64_t> warmup_batch_sizes{1};
  // Measures ModelInfo::memory (fixed bytes + bytes per row) from two runs on zero-valued inputs
  // with these row counts. The figure is an upper bound.
  bool measure_memory = false;
  std::pair<std::int64_t, std::int64_t> memory_probe_rows{1, 256};
  // The module's share of the device plan (ClaimTicket::assignment()). The model runs on the
  // placement's `gpu_index`-th GPU, or on the CPU for a CPU placement. Without one: the backend's
  // default placement, or the CPU once a plan is applied (the plan owns the GPUs).
  std::optional<Placement> placement;
  std::size_t gpu_index = 0;
  // A graph is a program: ops such as WriteFile, ReadFile, PyFunc or Save can touch the file
  // system or run code. By default a model using an op outside the backend's inference allowlist
  // is refused (PermissionDeniedError naming the op and node). `allowed_ops` adds op types to the
  // allowlist; `allow_unsafe_ops` turns the check off.
  std::vector<std::string> allowed_ops;
  bool allow_unsafe_ops = false;
  // TF2 SavedModels: variables the serving functions only read become constants of the graph that
  // runs (a run then costs what the frozen graph's run costs). Variables a function writes stay
  // live whatever this says. False keeps every variable live.
  bool freeze_variables = true;
  // Freezing saves a read per variable and run, which counts for small models, and costs in
  // proportion to the bytes while TF builds the session: ~13 times the frozen bytes of memory at
  // the peak and ~0.1 s per MB (2-vCPU AMD EPYC: a 535 MB model took 7.4 GB and 51 s to load frozen,
  // 1.5 GB and 1.1 s live; a 2.2 GB one was killed for memory). So variables are frozen smallest
  // first up to this many bytes in all; the rest stay live. The same holds for a frozen graph's
  // floating constants of 4 KiB or more: those beyond the limit become variables at load.
  std::int64_t freeze_limit_bytes = std::int64_t{64} << 20;
};

}  // namespace hepinfer
