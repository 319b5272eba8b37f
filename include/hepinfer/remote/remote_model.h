#pragma once
// Models served by Open Inference Protocol servers (KServe v2: Triton, KServe, MLServer, OpenVINO
// Model Server) as hepinfer::Models. No network library's header is included from here; builds
// without TensorFlow.
//
//   auto model = remote::connect({{"a", "http://10.0.0.5:8000"}, {"b", "http://10.0.0.6:8000"}}, "jet_tagger");
//   model->run(inputs, {});                        // synchronous: the caller waits
//   model->submit(inputs, {}, [](batching::BatchResult r) { ... });  // asynchronous
//
// Threading: each RemoteModel owns one I/O thread that drives every request in flight (no thread
// per request, none blocked while a request waits for its server); asynchronous callbacks run on
// it and must be short (a framework's external work: schedule the module's produce step) and must
// not destroy the model (its destructor joins that thread). A synchronous run() to a server that
// answered the previous request goes out and comes back on the caller's own thread, over a
// connection it has to itself; failures, retries and failovers are handled on the I/O thread.
// Connections are kept alive and pooled per server (up to `max_connections_per_server` for the I/O
// thread, and one per concurrent synchronous caller).
//
// Requests use Triton's binary tensor extension unless told otherwise; a server that refuses it
// (MLServer) is spoken to in JSON from then on. A request that fails on a server because the server
// is unreachable, closed the connection, answered 502/503/504 or did not answer within the timeout
// is sent again (inference is idempotent) to the next server, with back-off; a server that failed
// is skipped for `server_retry_after`. When every server has failed and the model has a local
// fallback, requests run on it. Every request ends exactly once: outputs, or a typed error naming
// the server(s) and the model.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hepinfer/batching/dynamic_batcher.h"
#include "hepinfer/core/load_options.h"
#include "hepinfer/core/model.h"
#include "hepinfer/core/latency.h"

namespace hepinfer::remote {

// How https:// servers are trusted and how this client proves who it is (core/load_options.h).
// The server's certificate must chain to a trusted certificate and name the URL's host (or IP
// address); TLS 1.2 at least. TLS runs on OpenSSL inside hepinfer's own library, never on the
// BoringSSL that TensorFlow's library exports into the same process (docs/remote.md, "TLS").
using hepinfer::TlsOptions;

// A server: a name for messages and reports, its base URL, "http://HOST:PORT" or, over TLS,
// "https://HOST:PORT", for TLS what to trust and which client certificate to show, and for servers
// behind an authenticating gateway a file holding the bearer token every request carries
// ("Authorization: Bearer ..."; sent only over https or to a loopback address; the file is read
// again when the server refuses the token, so a token the site rotates is picked up).
struct Endpoint {
  std::string name;
  std::string url;
  TlsOptions tls;
  std::string token_file;
};

// "http://HOST:PORT/v2/models/NAME" (or https://), or with a version pinned
// "http://HOST:PORT/v2/models/NAME/versions/VERSION": a model on a server, wherever a model path
// is accepted.
struct ModelReference {
  std::string server_url;  // "http://HOST:PORT", "https://HOST:PORT"
  ServedModel model;       // NAME, and VERSION when the URL pins one
};
// nullopt for text that is not such a URL; InvalidArgumentError for one that starts like a model
// URL but is malformed (a missing port or name, an empty version, a query or further path).
std::optional<ModelReference> parse_model_reference(std::string_view text);
bool is_model_reference(std::string_view text);
// The reference's server as an Endpoint named "HOST:PORT" (no TLS files, no token: add them).
Endpoint server_of(const ModelReference& reference);

enum class Encoding { kBinary, kJson };
std::string_view encoding_name(Encoding encoding);  // "binary", "json"

struct RemoteOptions {
  Encoding encoding = Encoding::kBinary;
  std::chrono::milliseconds timeout{10'000};         // one attempt: connect, send, full reply
  int max_attempts = 3;                              // over all servers, per request
  std::chrono::milliseconds backoff{10};             // before a second attempt; doubled after
  std::chrono::milliseconds server_retry_after{2'000};  // a failed server is skipped this long
  std::size_t max_connections_per_server = 32;
  std::size_t max_reply_bytes = std::size_t{512} << 20;  // larger replies fail, unread
  // Where requests run once every server has failed; loaded on first need (then kept). Empty: no
  // local fallback, requests fail with UnavailableError.
  std::function<std::shared_ptr<const Model>()> local_fallback;
  std::string local_fallback_name = "local";  // in reports, e.g. "CPU (TensorFlow)"
};

// A request moved off a server: to another, or to the local fallback ("to" is then
// RemoteOptions::local_fallback_name).
struct Failover {
  double seconds = 0;  // since the model was connected
  std::string from;
  std::string to;
  std::string reason;
};

struct ServerStatistics {
  std::string name;
  std::string url;
  Encoding encoding = Encoding::kBinary;  // what it is spoken to in now
  std::int64_t requests = 0;              // attempts sent to it
  std::int64_t failures = 0;              // attempts that failed
  std::int64_t connections_opened = 0;
  LatencySummary latency;                 // successful attempts: send to full reply
};

struct RemoteStatistics {
  std::int64_t requests = 0;         // completed, successfully or not
  std::int64_t failed_requests = 0;  // completed with an error
  std::int64_t retries = 0;          // attempts after a request's first
  std::int64_t local_runs = 0;       // requests the local fallback answered
  std::int64_t caller_thread_requests = 0;  // synchronous requests sent and answered on their caller's thread
  std::vector<ServerStatistics> servers;
  std::vector<Failover> failovers;  // the most recent 1000
};

class RemoteModel final : public Model {
 public:
  ~RemoteModel() override;  // waits for the requests in flight to end (bounded by the timeout)

  const ModelInfo& info() const override;
  std::vector<Tensor> run(const std::vector<NamedTensor>& inputs, const std::vector<std::string>& output_names,
                          const RunOptions& options = {}) const override;

  // Returns at once; `done` runs once, on the I/O thread (or on the calling thread when the
  // request is answered without the network: invalid inputs, an empty batch, the local fallback).
  void submit(std::vector<NamedTensor> inputs, std::vector<std::string> output_names,
              std::function<void(batching::BatchResult)> done) const;
  std::future<std::vector<Tensor>> submit(std::vector<NamedTensor> inputs, std::vector<std::string> output_names) const;

  RemoteStatistics statistics() const;
  // The server's own statistics of the model (Triton: GET /v2/models/NAME[/versions/V]/stats) as
  // JSON text, from the first server that answers it; nullopt where no server offers them (KServe,
  // MLServer).
  std::optional<std::string> server_statistics() const;

  class Impl;

 private:
  friend std::unique_ptr<RemoteModel> connect(std::vector<Endpoint>, ServedModel, const LoadOptions&, RemoteOptions);
  explicit RemoteModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Connects to the model `model` served by `servers` (tried in this order): reads its metadata
// from the first server that has it ready. With a version, every request (metadata, readiness,
// inference, statistics) names it, so every server answers with that version or not at all;
// servers that serve no versions (KServe answers 501) are then not ready for it. Throws
// InvalidArgumentError (no server, a malformed URL, a name or version that cannot go into a URL's
// path, unusable TLS files, a token file holding no token), FileNotFoundError (a token file that
// is not there), UnavailableError (no server answers or has the model ready, naming each and
// why), PermissionDeniedError (every server refused access),
// BackendError / UnsupportedError (metadata that is malformed or uses types hepinfer lacks).
// Of LoadOptions it reads `signature` (must be empty or "serving_default": a served model has one)
// and `warmup_runs`/`warmup_batch_sizes`.
std::unique_ptr<RemoteModel> connect(std::vector<Endpoint> servers, ServedModel model, const LoadOptions& options = {},
                                     RemoteOptions remote_options = {});
// The same for a model reference ("http://HOST:PORT/v2/models/NAME[/versions/VERSION]").
std::unique_ptr<RemoteModel> connect(const ModelReference& reference, const LoadOptions& options = {},
                                     RemoteOptions remote_options = {});

// The statistics of `model` if it is a RemoteModel, nullopt otherwise (reports that hold models
// only as hepinfer::Model use it).
std::optional<RemoteStatistics> statistics_of(const Model& model);

}  // namespace hepinfer::remote
