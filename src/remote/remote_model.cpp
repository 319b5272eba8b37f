#include "hepinfer/remote/remote_model.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "hepinfer/core/empty_batch.h"
#include "hepinfer/core/error.h"
#include "hepinfer/core/example_inputs.h"
#include "hepinfer/core/per_call_inputs.h"
#include "bearer_token.h"
#include "caller_connection.h"
#include "http_pool.h"
#include "oip_codec.h"
#include "tls_engine.h"

namespace hepinfer::remote {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using detail::HttpFailure;
using detail::HttpReply;
using detail::HttpRequest;

constexpr std::size_t kLatencySamples = 100'000;
constexpr std::size_t kFailoverRecords = 1000;

double microseconds_since(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

std::string describe(const Endpoint& server) { return "server '" + server.name + "' (" + server.url + ")"; }

// A retryable failure: the server may be gone or overloaded, another one may answer.
bool server_failed(const HttpReply& reply) {
  switch (reply.failure) {
    case HttpFailure::kConnect:
    case HttpFailure::kTimeout:
    case HttpFailure::kIo:
      return true;
    case HttpFailure::kNone:  // a refused token too: another server (or the local fallback) may serve
      return reply.status == 401 || reply.status == 403 || reply.status == 502 || reply.status == 503 ||
             reply.status == 504;
    case HttpFailure::kTooLarge:
    case HttpFailure::kProtocol:
      return false;
  }
  return false;
}

ErrorCode code_for_status(int status) {
  switch (status) {
    case 400:
    case 422: return ErrorCode::kInvalidArgument;
    case 401:
    case 403: return ErrorCode::kPermissionDenied;
    case 404: return ErrorCode::kNotFound;
    case 413: return ErrorCode::kResourceExhausted;
    case 501: return ErrorCode::kUnsupported;
    default: return ErrorCode::kBackend;
  }
}

}  // namespace

std::string_view encoding_name(Encoding encoding) { return encoding == Encoding::kBinary ? "binary" : "json"; }

class RemoteModel::Impl {
 private:
  struct Server;
  struct Call;

 public:
  Impl(std::vector<Endpoint> servers, ServedModel model, RemoteOptions options)
      : model_(std::move(model)),
        model_path_(detail::model_path(model_)),
        options_(std::move(options)),
        work_(asio::make_work_guard(io_)) {
    if (options_.max_attempts < 1) throw InvalidArgumentError("RemoteOptions::max_attempts must be at least 1");
    if (options_.timeout.count() <= 0) throw InvalidArgumentError("RemoteOptions::timeout must be positive");
    for (Endpoint& endpoint : servers) {
      auto server = std::make_unique<Server>();
      server->target = detail::server_target(endpoint.url, endpoint.tls, endpoint.token_file);
      server->endpoint = std::move(endpoint);
      server->encoding = options_.encoding;
      server->encoding_seen = options_.encoding;
      server->pool = std::make_unique<detail::HttpPool>(io_, server->target, options_.max_connections_per_server,
                                                        options_.max_reply_bytes);
      servers_.push_back(std::move(server));
    }
  }

  ~Impl() {
    {
      std::unique_lock lock(flight_mutex_);
      flight_done_.wait(lock, [this] { return in_flight_ == 0; });
    }
    work_.reset();
    if (io_thread_.joinable()) io_thread_.join();
  }

  // Reads readiness and metadata, then starts the I/O thread.
  void connect(const LoadOptions& load) {
    if (!load.signature.empty() && load.signature != "serving_default") {
      throw NotFoundError("model " + model_.description() + " on a server has one signature, 'serving_default'; '" +
                          load.signature + "' was asked for");
    }
    const Clock::time_point started = Clock::now();
    std::string why_not;
    bool refused_everywhere = true;  // every server answered, refusing access
    for (std::size_t index = 0; index < servers_.size(); ++index) {
      Server& server = *servers_[index];
      HttpReply ready = detail::http_get(server.target, model_path_ + "/ready", options_.timeout);
      if (ready.failure != HttpFailure::kNone || ready.status != 200) {
        const bool serves_no_versions = ready.status == 501 && !model_.version.empty();  // KServe
        const bool refused = ready.status == 401 || ready.status == 403;
        refused_everywhere = refused_everywhere && ready.failure == HttpFailure::kNone && refused;
        why_not += "; " + describe(server.endpoint) + ": " +
                   (ready.failure != HttpFailure::kNone ? ready.error
                    : serves_no_versions ? "it serves no model versions (HTTP 501); name the model without one"
                    : refused ? "access refused (HTTP " + std::to_string(ready.status) + ") " +
                                    (server.target.token ? "to the token in " + server.target.token->file()
                                                         : "without a token (give the server a token_file)")
                              : "model not ready (HTTP " + std::to_string(ready.status) + ")");
        continue;
      }
      HttpReply metadata = detail::http_get(server.target, model_path_, options_.timeout);
      if (metadata.failure != HttpFailure::kNone || metadata.status != 200) {
        refused_everywhere = false;
        why_not += "; " + describe(server.endpoint) + ": metadata: " +
                   (metadata.failure != HttpFailure::kNone ? metadata.error
                                                           : "HTTP " + std::to_string(metadata.status) + " " +
                                                                 detail::error_text(metadata.body));
        continue;
      }
      SignatureInfo signature;
      try {
        signature = detail::decode_model_metadata(metadata.body);
      } catch (const Error& error) {
        throw_error(error.code(), describe(server.endpoint) + ", model " + model_.description() + ": " + error.what());
      }
      primary_ = index;
      current_ = index;
      fill_info(std::move(signature));
      break;
    }
    if (info_.signatures.empty()) {
      const std::string message = "model " + model_.description() + " is ready on no server" + why_not;
      if (refused_everywhere) throw PermissionDeniedError(message);
      throw UnavailableError(message);
    }
    connected_at_ = Clock::now();
    info_.timing.load_ms = std::chrono::duration<double, std::milli>(connected_at_ - started).count();
    io_thread_ = std::thread([this] { io_.run(); });
    for (int run = 0; run < load.warmup_runs; ++run) {
      for (std::int64_t rows : load.warmup_batch_sizes) {
        Clock::time_point start = Clock::now();
        run_sync(example_inputs(info_, rows, "warm up"), {});
        info_.timing.warmup_ms += microseconds_since(start) / 1000.0;
        ++info_.timing.warmup_runs;
      }
    }
  }

  const ModelInfo& info() const { return info_; }

  // A synchronous request goes out and comes back on its caller's thread while the server it would
  // go to is steady (it answered last, in an encoding it accepted, and nothing failed since): no
  // hand-off to the I/O thread and back. Anything else (the first request, a failure, a switch to
  // JSON, a failover) is decided on the I/O thread, as for asynchronous requests. The caller waits
  // on a slot filled under its mutex: the I/O thread keeps no reference to the result (or its
  // exception) once the caller can see it.
  std::vector<Tensor> run_sync(std::vector<NamedTensor> inputs, std::vector<std::string> outputs) {
    struct Slot {
      std::mutex mutex;
      std::condition_variable ready_signal;
      bool ready = false;
      batching::BatchResult result;
    };
    auto slot = std::make_shared<Slot>();
    std::shared_ptr<Call> call = admit(std::move(inputs), std::move(outputs), [slot](batching::BatchResult result) {
      std::lock_guard lock(slot->mutex);
      slot->result = std::move(result);
      slot->ready = true;
      slot->ready_signal.notify_one();
    });
    if (call) {
      const int steady = steady_server_.load(std::memory_order_acquire);
      if (steady < 0 || !send_from_caller(call, static_cast<std::size_t>(steady))) dispatch(call);
    }
    batching::BatchResult result;
    {
      std::unique_lock lock(slot->mutex);
      slot->ready_signal.wait(lock, [&slot] { return slot->ready; });
      result = std::move(slot->result);
    }
    if (result.error) std::rethrow_exception(result.error);
    return std::move(result.outputs);
  }

  void submit(std::vector<NamedTensor> inputs, std::vector<std::string> output_names,
              std::function<void(batching::BatchResult)> done) {
    if (std::shared_ptr<Call> call = admit(std::move(inputs), std::move(output_names), std::move(done))) dispatch(call);
  }

  // A call for the network, or nullptr when it was answered here: invalid inputs, an empty batch,
  // the local fallback while every server is skipped.
  std::shared_ptr<Call> admit(std::vector<NamedTensor> inputs, std::vector<std::string> output_names,
                              std::function<void(batching::BatchResult)> done) {
    auto call = std::make_shared<Call>();
    call->done = std::move(done);
    call->started = Clock::now();
    try {
      call->outputs = resolve_outputs(output_names);
      check_inputs(inputs);
      if (is_empty_batch(inputs, find_run_signature(info_, {}))) {
        std::vector<const TensorInfo*> metadata;
        for (const std::string& name : call->outputs) metadata.push_back(find_output(name));
        if (auto empty = empty_outputs_from_metadata(metadata)) {
          complete_here(*call, {std::move(*empty), nullptr});
          return nullptr;
        }
      }
    } catch (...) {
      complete_here(*call, {{}, std::current_exception()});
      return nullptr;
    }
    call->inputs = std::move(inputs);
    if (options_.local_fallback && every_server_skipped()) {
      run_locally(*call, "");
      return nullptr;
    }
    return call;
  }

  // Hands `call` to the I/O thread.
  void dispatch(const std::shared_ptr<Call>& call) {
    {
      std::lock_guard lock(flight_mutex_);
      ++in_flight_;
    }
    asio::post(io_, [this, call] {
      call->next_server = current_;
      attempt(call);
    });
  }

  // Sends `call` to server `index` and reads the reply on this thread, over a connection this
  // caller has to itself. A success completes the call here; any other reply goes to the I/O
  // thread, which handles it as if it had sent the request. False: no connection to spare.
  bool send_from_caller(const std::shared_ptr<Call>& call, std::size_t index) {
    Server& server = *servers_[index];
    std::unique_ptr<detail::CallerConnection> channel = checkout_channel(server);
    if (!channel) return false;
    // Fixed while the server is steady: it changes only before a request in it has succeeded.
    const Encoding encoding = server.encoding;
    call->last_server = index;
    ++call->attempts;
    std::shared_ptr<HttpRequest> request;
    try {
      request = request_for(*call, encoding);
    } catch (const Error& error) {
      return_channel(server, std::move(channel));
      complete_here(*call, {{}, unencodable(server, error)});
      return true;
    }
    if (server.target.token) call->token_generation = server.target.token->generation();
    {
      std::lock_guard lock(statistics_mutex_);
      ++server.requests;
    }
    const Clock::time_point sent = Clock::now();
    HttpReply reply = channel->exchange(*request, options_.timeout);
    return_channel(server, std::move(channel));
    if (reply.new_connection) {
      std::lock_guard lock(statistics_mutex_);
      ++server.caller_connections_opened;
    }
    if (reply.failure == HttpFailure::kNone && reply.status == 200) {
      batching::BatchResult result;
      bool decoded = true;
      try {
        result.outputs = read_outputs(*call, reply);
      } catch (const Error&) {
        decoded = false;  // the I/O thread decodes it again and reports what is wrong with it
      }
      if (decoded) {
        {
          std::lock_guard lock(statistics_mutex_);
          record_latency(server, sent);
          ++totals_.caller_thread_requests;
        }
        complete_here(*call, std::move(result));
        return true;
      }
    }
    {
      std::lock_guard lock(flight_mutex_);
      ++in_flight_;
    }
    asio::post(io_, [this, call, index, sent, encoding, reply = std::move(reply)]() mutable {
      handle(call, index, sent, encoding, std::move(reply));
      publish_steady();
    });
    return true;
  }

  // An idle channel to `server`; a new one while it has fewer than the connection limit; nullptr
  // otherwise, or when its host does not resolve.
  std::unique_ptr<detail::CallerConnection> checkout_channel(Server& server) {
    std::lock_guard lock(server.channels_mutex);
    if (!server.idle_channels.empty()) {
      std::unique_ptr<detail::CallerConnection> channel = std::move(server.idle_channels.back());
      server.idle_channels.pop_back();
      return channel;
    }
    if (server.channels_open >= options_.max_connections_per_server) return nullptr;
    if (server.endpoints.empty()) server.endpoints = detail::resolve_here(server.target);
    if (server.endpoints.empty()) return nullptr;
    ++server.channels_open;
    return std::make_unique<detail::CallerConnection>(server.target, server.endpoints, options_.max_reply_bytes);
  }

  static void return_channel(Server& server, std::unique_ptr<detail::CallerConnection> channel) {
    std::lock_guard lock(server.channels_mutex);
    server.idle_channels.push_back(std::move(channel));
  }

  // I/O thread, after each reply it handled: the server synchronous requests may go to from their
  // caller's thread, if any.
  void publish_steady() {
    const Server& server = *servers_[current_];
    const bool steady = server.skip_until == Clock::time_point{} && server.encoding_proven && !local_since_;
    steady_server_.store(steady ? static_cast<int>(current_) : -1, std::memory_order_release);
  }

  RemoteStatistics statistics() const {
    std::lock_guard lock(statistics_mutex_);
    RemoteStatistics result = totals_;
    for (const auto& server : servers_) {
      ServerStatistics entry;
      entry.name = server->endpoint.name;
      entry.url = server->endpoint.url;
      entry.encoding = server->encoding_seen;
      entry.requests = server->requests;
      entry.failures = server->failures;
      entry.connections_opened = server->connections_opened + server->caller_connections_opened;
      entry.latency = summarise_latencies(std::vector<double>(server->latencies_us.begin(), server->latencies_us.end()));
      result.servers.push_back(std::move(entry));
    }
    result.failovers.assign(failovers_.begin(), failovers_.end());
    return result;
  }

  std::optional<std::string> server_statistics() const {
    for (const auto& server : servers_) {
      HttpReply reply = detail::http_get(server->target, model_path_ + "/stats", options_.timeout);
      if (reply.failure == HttpFailure::kNone && reply.status == 200) return reply.body;
    }
    return std::nullopt;
  }

 private:
  struct Server {
    Endpoint endpoint;
    detail::HttpTarget target;
    std::unique_ptr<detail::HttpPool> pool;
    // Under channels_mutex:
    std::mutex channels_mutex;
    std::vector<std::unique_ptr<detail::CallerConnection>> idle_channels;
    std::size_t channels_open = 0;
    std::vector<asio::ip::tcp::endpoint> endpoints;
    // I/O thread only (callers read `encoding` while the server is steady, when it no longer changes):
    Encoding encoding = Encoding::kBinary;
    bool encoding_proven = false;  // a request in `encoding` succeeded
    Clock::time_point skip_until{};
    // Under statistics_mutex_:
    Encoding encoding_seen = Encoding::kBinary;
    std::int64_t requests = 0, failures = 0, connections_opened = 0, caller_connections_opened = 0;
    std::deque<double> latencies_us;
  };

  struct Call {
    std::vector<NamedTensor> inputs;
    std::vector<std::string> outputs;
    std::function<void(batching::BatchResult)> done;
    Clock::time_point started;
    std::shared_ptr<HttpRequest> binary_request, json_request;
    std::size_t next_server = 0;
    std::optional<std::size_t> last_server;
    int attempts = 0;
    bool encoding_retry_used = false;
    std::uint64_t token_generation = 0;  // of the bearer token its last attempt carried
    bool token_retry_used = false;
    std::string failures;  // "; server 'a' (url): why" per failed attempt
    ErrorCode last_code = ErrorCode::kUnavailable;
    bool completed = false;
  };

  void fill_info(SignatureInfo signature) {
    const Endpoint& server = servers_[primary_]->endpoint;
    info_.path = server.url + model_path_;
    info_.backend = "remote";
    info_.format = "Open Inference Protocol (KServe v2) model, " + std::string(encoding_name(options_.encoding)) + " tensors";
    info_.default_signature = signature.key;
    info_.signatures.push_back(std::move(signature));
    info_.threading = ThreadingMode::kInline;
    info_.device = "server " + server.name + " (" + server.url + ")";
    info_.server = server.name;
    std::string order;
    for (const auto& entry : servers_) order += (order.empty() ? "" : ", ") + entry->endpoint.name;
    info_.load_details.push_back({"servers", order});
    info_.load_details.push_back({"timeout", std::to_string(options_.timeout.count()) + " ms per attempt, " +
                                                 std::to_string(options_.max_attempts) + " attempts"});
    info_.load_details.push_back({"local fallback", options_.local_fallback ? options_.local_fallback_name : "none"});
    for (const auto& entry : servers_) {
      if (!entry->target.https) continue;
      const TlsOptions& tls = entry->endpoint.tls;
      info_.load_details.push_back(
          {"tls (" + entry->endpoint.name + ")",
           tls::library_version() + " (hepinfer's own), trusting " +
               (tls.ca_file.empty() ? "the system's certificates" : tls.ca_file) +
               (tls.certificate_file.empty() ? "" : ", client certificate " + tls.certificate_file)});
    }
    for (const auto& entry : servers_) {
      if (entry->target.token) {
        info_.load_details.push_back(
            {"token (" + entry->endpoint.name + ")", "bearer, from " + entry->target.token->file()});
      }
    }
  }

  const TensorInfo* find_output(const std::string& name) const {
    for (const TensorInfo& output : info_.signatures.front().outputs) {
      if (output.key == name) return &output;
    }
    return nullptr;
  }

  std::vector<std::string> resolve_outputs(const std::vector<std::string>& names) const {
    const SignatureInfo& signature = info_.signatures.front();
    if (names.empty()) {
      std::vector<std::string> all;
      for (const TensorInfo& output : signature.outputs) all.push_back(output.key);
      return all;
    }
    for (const std::string& name : names) {
      if (!find_output(name)) {
        std::string known;
        for (const TensorInfo& output : signature.outputs) known += (known.empty() ? "" : ", ") + output.key;
        throw NotFoundError(info_.path + ": no output '" + name + "' (outputs: " + known + ")");
      }
    }
    return names;
  }

  // Inputs the model lists but the caller leaves out are the server's to refuse: a frozen graph can
  // list placeholders its outputs do not need (as the TensorFlow backend allows).
  void check_inputs(const std::vector<NamedTensor>& inputs) const {
    const SignatureInfo& signature = info_.signatures.front();
    for (const NamedTensor& input : inputs) {
      const TensorInfo* expected = signature.find_input(input.name);
      if (!expected) {
        std::string known;
        for (const TensorInfo& entry : signature.inputs) known += (known.empty() ? "" : ", ") + entry.key;
        throw NotFoundError(info_.path + ": no input '" + input.name + "' (inputs: " + known + ")");
      }
      check_input_matches(*expected, input.tensor, info_.path);
    }
  }

  bool every_server_skipped() const {
    const auto until = all_skipped_until_.load(std::memory_order_acquire);
    return until != 0 && Clock::now().time_since_epoch().count() < until;
  }

  void update_skip_window() {
    Clock::time_point earliest = Clock::time_point::max();
    for (const auto& server : servers_) earliest = std::min(earliest, server->skip_until);
    all_skipped_until_.store(earliest > Clock::now() ? earliest.time_since_epoch().count() : 0,
                             std::memory_order_release);
  }

  // I/O thread. Sends the call to the next server that has not failed lately (or, if every one
  // has, to the next in turn: it may be back).
  void attempt(const std::shared_ptr<Call>& call) {
    const Clock::time_point now = Clock::now();
    std::size_t index = call->next_server % servers_.size();
    for (std::size_t step = 0; step < servers_.size(); ++step) {
      const std::size_t candidate = (call->next_server + step) % servers_.size();
      if (servers_[candidate]->skip_until <= now) {
        index = candidate;
        break;
      }
    }
    Server& server = *servers_[index];
    if (call->last_server && *call->last_server != index) {
      record_failover(servers_[*call->last_server]->endpoint.name, server.endpoint.name, last_reason_of(*call));
    }
    call->last_server = index;
    ++call->attempts;
    std::shared_ptr<HttpRequest> request;
    try {
      request = request_for(*call, server.encoding);
    } catch (const Error& error) {
      finish(call, {{}, unencodable(server, error)});
      return;
    }
    if (server.target.token) call->token_generation = server.target.token->generation();
    const Clock::time_point sent = Clock::now();
    {
      std::lock_guard lock(statistics_mutex_);
      ++server.requests;
      if (call->attempts > 1) ++totals_.retries;
    }
    const Encoding encoding = server.encoding;
    server.pool->send(request, options_.timeout, [this, call, index, sent, encoding](HttpReply reply) {
      handle(call, index, sent, encoding, std::move(reply));
      publish_steady();
    });
  }

  // Inputs this server's encoding cannot carry (float16, NaN in JSON), as the caller's error: a
  // configuration to change, not a server failure to retry.
  std::exception_ptr unencodable(const Server& server, const Error& error) const {
    try {
      throw_error(error.code(), describe(server.endpoint) + ", model " + model_.description() + ": " + error.what());
    } catch (...) {
      return std::current_exception();
    }
  }

  std::shared_ptr<HttpRequest> request_for(Call& call, Encoding encoding) {
    std::shared_ptr<HttpRequest>& slot = encoding == Encoding::kBinary ? call.binary_request : call.json_request;
    if (!slot) {
      detail::EncodedRequest encoded =
          detail::encode_infer_request(call.inputs, call.outputs, encoding == Encoding::kBinary, "");
      slot = std::make_shared<HttpRequest>();
      slot->method = "POST";
      slot->path = model_path_ + "/infer";
      slot->body = std::move(encoded.body);
      slot->inference_header = encoded.header_length;
      slot->content_type = encoded.header_length ? "application/octet-stream" : "application/json";
    }
    return slot;
  }

  static std::string last_reason_of(const Call& call) {
    const auto cut = call.failures.rfind("; ");
    return cut == std::string::npos ? call.failures : call.failures.substr(cut + 2);
  }

  void handle(const std::shared_ptr<Call>& call, std::size_t index, Clock::time_point sent, Encoding encoding,
              HttpReply reply) {
    Server& server = *servers_[index];
    {
      std::lock_guard lock(statistics_mutex_);
      server.connections_opened = server.pool->statistics().connections_opened;
    }
    const std::string where = describe(server.endpoint) + ", model " + model_.description();
    if (reply.failure == HttpFailure::kNone && reply.status == 200) {
      batching::BatchResult result;
      try {
        result.outputs = read_outputs(*call, reply);
      } catch (const Error& error) {
        note_failure(server);
        try {
          throw_error(error.code(), where + ": " + error.what());
        } catch (...) {
          result.error = std::current_exception();
        }
        finish(call, std::move(result));
        return;
      }
      server.skip_until = {};
      current_ = index;  // requests stay on the server that answers until it fails
      if (server.encoding == encoding) server.encoding_proven = true;
      update_skip_window();
      {
        std::lock_guard lock(statistics_mutex_);
        record_latency(server, sent);
      }
      if (local_since_) {
        record_failover(options_.local_fallback_name, server.endpoint.name, "the server answers again");
        local_since_ = false;
      }
      finish(call, std::move(result));
      return;
    }

    // A server that refuses the binary extension (MLServer answers 400/422/500) is spoken to in JSON.
    const bool refused_binary = reply.failure == HttpFailure::kNone && encoding == Encoding::kBinary &&
                                !server.encoding_proven && !call->encoding_retry_used &&
                                (reply.status == 400 || reply.status == 415 || reply.status == 422 ||
                                 reply.status == 500);
    if (refused_binary) {
      call->encoding_retry_used = true;
      server.encoding = Encoding::kJson;
      {
        std::lock_guard lock(statistics_mutex_);
        server.encoding_seen = Encoding::kJson;
      }
      record_failover(server.endpoint.name, server.endpoint.name,
                      "binary tensors refused (HTTP " + std::to_string(reply.status) + "): JSON from now on");
      --call->attempts;
      call->next_server = index;
      call->last_server.reset();
      attempt(call);
      return;
    }

    // A refused token may be one the site has rotated since: the file is read again and, when the
    // request carried an older token than it now holds, the request goes once more to this server.
    const bool refused_token = reply.failure == HttpFailure::kNone && (reply.status == 401 || reply.status == 403);
    if (refused_token && server.target.token && !call->token_retry_used) {
      server.target.token->reload();
      if (server.target.token->generation() != call->token_generation) {
        call->token_retry_used = true;
        record_failover(server.endpoint.name, server.endpoint.name,
                        "token refused (HTTP " + std::to_string(reply.status) + "): sent again with the new one in " +
                            server.target.token->file());
        --call->attempts;
        call->next_server = index;
        call->last_server.reset();
        attempt(call);
        return;
      }
    }

    note_failure(server);
    if (reply.failure == HttpFailure::kNone) {
      call->failures += "; " + describe(server.endpoint) + ": HTTP " + std::to_string(reply.status) + ": " +
                        detail::error_text(reply.body);
    } else {
      call->failures += "; " + describe(server.endpoint) + ": " + reply.error;
    }
    if (server_failed(reply)) {
      call->last_code = reply.failure == HttpFailure::kTimeout ? ErrorCode::kDeadlineExceeded
                        : refused_token                         ? ErrorCode::kPermissionDenied
                                                                : ErrorCode::kUnavailable;
      server.skip_until = Clock::now() + options_.server_retry_after;
      server.pool->close_idle();
      update_skip_window();
      if (call->attempts < options_.max_attempts) {
        call->next_server = index + 1;
        auto timer = std::make_shared<asio::steady_timer>(io_);
        timer->expires_after(options_.backoff * (1 << std::min(call->attempts - 1, 10)));
        timer->async_wait([this, call, timer](const boost::system::error_code&) { attempt(call); });
        return;
      }
      if (options_.local_fallback) {
        if (!local_since_) {
          record_failover(server.endpoint.name, options_.local_fallback_name, last_reason_of(*call));
          local_since_ = true;
        }
        // Requests in flight when the servers failed run here; later ones on their caller's thread.
        run_locally(*call, where);
        finish_in_flight();
        return;
      }
      fail(call, call->last_code,
           "model " + model_.description() + ": no server answered after " + std::to_string(call->attempts) +
               " attempts" + call->failures);
      return;
    }
    const ErrorCode code = reply.failure == HttpFailure::kTooLarge ? ErrorCode::kResourceExhausted
                           : reply.failure == HttpFailure::kProtocol ? ErrorCode::kBackend
                                                                     : code_for_status(reply.status);
    std::string why = reply.failure == HttpFailure::kTooLarge
                          ? "the reply is larger than " + std::to_string(options_.max_reply_bytes) + " bytes"
                      : reply.failure == HttpFailure::kProtocol ? "not an HTTP reply: " + reply.error
                                                                : "HTTP " + std::to_string(reply.status) + ": " +
                                                                      detail::error_text(reply.body);
    fail(call, code, where + ": " + why);
  }

  std::vector<Tensor> read_outputs(const Call& call, const HttpReply& reply) const {
    std::vector<NamedTensor> decoded = detail::decode_infer_response(reply.body, reply.inference_header);
    std::vector<Tensor> outputs;
    for (const std::string& name : call.outputs) {
      auto found = std::find_if(decoded.begin(), decoded.end(), [&](const NamedTensor& t) { return t.name == name; });
      if (found == decoded.end()) throw BackendError("the reply lacks output '" + name + "'");
      const TensorInfo* expected = find_output(name);
      if (found->tensor.dtype() != expected->dtype) {
        throw DTypeMismatchError("output '" + name + "' came back as " + std::string(dtype_name(found->tensor.dtype())) +
                                 ", the metadata says " + std::string(dtype_name(expected->dtype)));
      }
      if (!expected->shape.accepts(found->tensor.shape())) {
        throw ShapeMismatchError("output '" + name + "' came back with shape " + found->tensor.shape().to_string() +
                                 ", the metadata says " + expected->shape.to_string());
      }
      outputs.push_back(std::move(found->tensor));
    }
    return outputs;
  }

  // Under statistics_mutex_.
  static void record_latency(Server& server, Clock::time_point sent) {
    server.latencies_us.push_back(microseconds_since(sent));
    if (server.latencies_us.size() > kLatencySamples) server.latencies_us.pop_front();
  }

  void note_failure(Server& server) {
    std::lock_guard lock(statistics_mutex_);
    ++server.failures;
  }

  // Requests in flight when a server fails all move at once: one record for them.
  void record_failover(const std::string& from, const std::string& to, const std::string& reason) {
    std::lock_guard lock(statistics_mutex_);
    if (!failovers_.empty() && failovers_.back().from == from && failovers_.back().to == to) return;
    failovers_.push_back({std::chrono::duration<double>(Clock::now() - connected_at_).count(), from, to, reason});
    if (failovers_.size() > kFailoverRecords) failovers_.pop_front();
  }

  std::shared_ptr<const Model> local_model() {
    std::lock_guard lock(fallback_mutex_);
    if (!fallback_) {
      fallback_ = options_.local_fallback();
      if (!fallback_) {
        throw InvalidModelError("model " + model_.description() + ": the local fallback loader returned no model");
      }
    }
    return fallback_;
  }

  // Runs `call` on the local fallback on this thread and completes it (not counted in flight).
  void run_locally(Call& call, const std::string& where) {
    batching::BatchResult result;
    try {
      result.outputs = local_model()->run(call.inputs, call.outputs);
    } catch (const Error& error) {
      try {
        throw_error(error.code(), "model " + model_.description() + " on its local fallback (" +
                                      options_.local_fallback_name +
                                      (where.empty() ? "" : ", after " + where + " failed") + "): " + error.what());
      } catch (...) {
        result.error = std::current_exception();
      }
    } catch (...) {
      result.error = std::current_exception();
    }
    {
      std::lock_guard lock(statistics_mutex_);
      ++totals_.local_runs;
    }
    complete_here(call, std::move(result));
  }

  void fail(const std::shared_ptr<Call>& call, ErrorCode code, const std::string& message) {
    batching::BatchResult result;
    try {
      throw_error(code, message);
    } catch (...) {
      result.error = std::current_exception();
    }
    finish(call, std::move(result));
  }

  // Completes a call that was in flight on the I/O thread, after publishing what it taught about
  // the servers: a caller woken by it sends its next request by what this one found.
  void finish(const std::shared_ptr<Call>& call, batching::BatchResult result) {
    publish_steady();
    complete_here(*call, std::move(result));
    finish_in_flight();
  }

  void finish_in_flight() {
    std::lock_guard lock(flight_mutex_);
    if (--in_flight_ == 0) flight_done_.notify_all();
  }

  void complete_here(Call& call, batching::BatchResult result) {
    if (call.completed) return;  // never answered twice
    call.completed = true;
    {
      std::lock_guard lock(statistics_mutex_);
      ++totals_.requests;
      if (result.error) ++totals_.failed_requests;
    }
    try {
      call.done(std::move(result));
    } catch (...) {
      // A callback's exception has nowhere to go; the request is answered either way.
    }
  }

  ServedModel model_;
  std::string model_path_;  // "/v2/models/NAME[/versions/VERSION]"
  RemoteOptions options_;
  ModelInfo info_;
  std::size_t primary_ = 0;
  std::size_t current_ = 0;  // I/O thread: where requests go first
  Clock::time_point connected_at_ = Clock::now();

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::vector<std::unique_ptr<Server>> servers_;  // after io_: their pools use it
  std::atomic<Clock::rep> all_skipped_until_{0};  // 0: some server may be tried
  bool local_since_ = false;                      // I/O thread: the last request ran locally
  std::atomic<int> steady_server_{-1};            // see publish_steady(); -1: none

  std::mutex fallback_mutex_;
  std::shared_ptr<const Model> fallback_;

  mutable std::mutex statistics_mutex_;
  RemoteStatistics totals_;
  std::deque<Failover> failovers_;

  std::mutex flight_mutex_;
  std::condition_variable flight_done_;
  std::int64_t in_flight_ = 0;

  std::thread io_thread_;  // last: runs once everything above exists
};

RemoteModel::RemoteModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RemoteModel::~RemoteModel() = default;

const ModelInfo& RemoteModel::info() const { return impl_->info(); }

std::vector<Tensor> RemoteModel::run(const std::vector<NamedTensor>& inputs, const std::vector<std::string>& output_names,
                                     const RunOptions& options) const {
  if (!options.signature.empty() && options.signature != "serving_default") {
    throw NotFoundError(info().path + ": a served model has one signature, 'serving_default'; '" + options.signature +
                        "' was asked for");
  }
  return impl_->run_sync(inputs, output_names);
}

void RemoteModel::submit(std::vector<NamedTensor> inputs, std::vector<std::string> output_names,
                         std::function<void(batching::BatchResult)> done) const {
  impl_->submit(std::move(inputs), std::move(output_names), std::move(done));
}

std::future<std::vector<Tensor>> RemoteModel::submit(std::vector<NamedTensor> inputs,
                                                     std::vector<std::string> output_names) const {
  auto promise = std::make_shared<std::promise<std::vector<Tensor>>>();
  auto future = promise->get_future();
  impl_->submit(std::move(inputs), std::move(output_names), [promise](batching::BatchResult result) {
    if (result.error) {
      promise->set_exception(std::move(result.error));
    } else {
      promise->set_value(std::move(result.outputs));
    }
  });
  return future;
}

RemoteStatistics RemoteModel::statistics() const { return impl_->statistics(); }
std::optional<std::string> RemoteModel::server_statistics() const { return impl_->server_statistics(); }

std::unique_ptr<RemoteModel> connect(std::vector<Endpoint> servers, ServedModel model, const LoadOptions& options,
                                     RemoteOptions remote_options) {
  if (servers.empty()) throw InvalidArgumentError("model " + model.description() + ": no server to connect to");
  // Both go into the URL's path as they are.
  if (model.name.empty() || model.name.find_first_of("/?# ") != std::string::npos) {
    throw InvalidArgumentError("served model name '" + model.name + "' is empty or holds '/', '?', '#' or a space");
  }
  if (model.version.find_first_of("/?# ") != std::string::npos) {
    throw InvalidArgumentError("model '" + model.name + "': version '" + model.version +
                               "' holds '/', '?', '#' or a space");
  }
  auto impl = std::make_unique<RemoteModel::Impl>(std::move(servers), std::move(model), std::move(remote_options));
  impl->connect(options);
  return std::unique_ptr<RemoteModel>(new RemoteModel(std::move(impl)));
}

std::unique_ptr<RemoteModel> connect(const ModelReference& reference, const LoadOptions& options,
                                     RemoteOptions remote_options) {
  return connect({server_of(reference)}, reference.model, options, std::move(remote_options));
}

std::optional<RemoteStatistics> statistics_of(const Model& model) {
  if (const auto* remote = dynamic_cast<const RemoteModel*>(&model)) return remote->statistics();
  return std::nullopt;
}

}  // namespace hepinfer::remote
