// The remote backend against a running Open Inference Protocol server (bench/report_remote.py starts
// KServe and runs this): client CPU per request in both encodings, request rate with many
// requesters, dynamic batching in front of the remote model against unbatched requests, and a
// server killed mid-run (every request must end exactly once), and, as the floor for client CPU,
// the same binary request sent with nothing but system calls (socket_floor.h), and hepinfer's own
// protocol code on that request and its reply without the network (protocol_work.h). With a TLS proxy in
// front of the server and a plain one as its baseline (tests/remote/tls_proxy.py), the client CPU
// that TLS adds. Writes JSON; bench/report_remote.py adds the Python client's rate measured in the
// same run and prints the table.
//
// usage: bench_remote URL MODEL OUT.json [--seconds S] [--rows N] [--requesters N]
//                     [--batch-delay-us D] [--second URL --kill-pid PID]
//                     [--plain-proxy URL --tls-proxy URL --tls-ca FILE] [--phases all|client-cpu]
//   --phases client-cpu: one requester in each encoding, the floor and the protocol work only (what
//   report_remote.py runs a second time with the server on a core of its own)

#include <signal.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "hepinfer/batching/dynamic_batcher.h"
#include "hepinfer/core/error.h"
#include "hepinfer/core/example_inputs.h"
#include "hepinfer/core/latency.h"
#include "hepinfer/remote/remote_model.h"
#include "protocol_work.h"
#include "socket_floor.h"

namespace {

using namespace hepinfer;
using Clock = std::chrono::steady_clock;

struct CpuSeconds {
  double user = 0, system = 0;
};
CpuSeconds process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
  return {seconds(usage.ru_utime), seconds(usage.ru_stime)};
}

struct Phase {
  std::int64_t requests = 0;
  std::int64_t errors = 0;
  double seconds = 0;
  double cpu_seconds = 0;
  double user_cpu_seconds = 0;  // the kernel's part includes loopback delivery to the server
  LatencySummary latency;

  nlohmann::json json() const {
    return {{"requests", requests},
            {"errors", errors},
            {"seconds", seconds},
            {"requests_per_second", seconds > 0 ? static_cast<double>(requests) / seconds : 0},
            {"client_cpu_us_per_request", requests > 0 ? 1e6 * cpu_seconds / static_cast<double>(requests) : 0},
            {"client_user_cpu_us_per_request", requests > 0 ? 1e6 * user_cpu_seconds / static_cast<double>(requests) : 0},
            {"p50_us", latency.p50_us},
            {"p90_us", latency.p90_us},
            {"p99_us", latency.p99_us},
            {"mean_us", latency.mean_us}};
  }
};

// `requesters` threads calling `model` synchronously with `rows` rows until `seconds` have passed.
Phase measure(const Model& model, int requesters, std::int64_t rows, double seconds) {
  const std::vector<NamedTensor> inputs = example_inputs(model.info(), rows, "bench", 7u);
  model.run(inputs, {});  // connections and caches warm
  std::mutex mutex;
  std::vector<double> latencies;
  std::atomic<std::int64_t> requests{0}, errors{0};
  const CpuSeconds cpu_before = process_cpu_seconds();
  const Clock::time_point start = Clock::now();
  const Clock::time_point end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> threads;
  for (int t = 0; t < requesters; ++t) {
    threads.emplace_back([&] {
      std::vector<double> mine;
      while (Clock::now() < end) {
        const Clock::time_point sent = Clock::now();
        try {
          model.run(inputs, {});
          mine.push_back(std::chrono::duration<double, std::micro>(Clock::now() - sent).count());
          ++requests;
        } catch (const Error&) {
          ++errors;
        }
      }
      std::lock_guard lock(mutex);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  for (auto& thread : threads) thread.join();
  Phase phase;
  phase.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const CpuSeconds cpu_after = process_cpu_seconds();
  phase.cpu_seconds = cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system;
  phase.user_cpu_seconds = cpu_after.user - cpu_before.user;
  phase.requests = requests;
  phase.errors = errors;
  phase.latency = summarise_latencies(std::move(latencies));
  return phase;
}

// The benchmark's binary request for `model`, and a plain socket to the server that has sent it
// once and got HTTP 200 back (`what` names the phase in errors).
struct PlainRequest {
  std::vector<NamedTensor> inputs;
  std::vector<std::string> outputs;
  std::unique_ptr<bench::PlainSocketExchange> socket;
};
PlainRequest plain_request_answered(const std::string& url, const std::string& model_name, const Model& model,
                                    std::int64_t rows, const std::string& what) {
  PlainRequest request;
  request.inputs = example_inputs(model.info(), rows, "bench", 7u);
  for (const TensorInfo& output : model.info().signatures.front().outputs) request.outputs.push_back(output.key);
  request.socket = std::make_unique<bench::PlainSocketExchange>(url, model_name, request.inputs, request.outputs);
  if (const int status = request.socket->exchange(); status != 200) {
    throw std::runtime_error(what + ": the server answered HTTP " + std::to_string(status));
  }
  return request;
}

// One requester sending pre-encoded binary requests over a plain socket: the client CPU that no
// client can go below on this host and server (socket_floor.h).
Phase measure_plain_socket_floor(const std::string& url, const std::string& model_name, const Model& model,
                                 std::int64_t rows, double seconds) {
  const PlainRequest request = plain_request_answered(url, model_name, model, rows, "plain socket floor");
  bench::PlainSocketExchange& socket = *request.socket;
  std::vector<double> latencies;
  const CpuSeconds cpu_before = process_cpu_seconds();
  const Clock::time_point start = Clock::now();
  const Clock::time_point end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (Clock::now() < end) {
    const Clock::time_point sent = Clock::now();
    socket.exchange();
    latencies.push_back(std::chrono::duration<double, std::micro>(Clock::now() - sent).count());
  }
  Phase phase;
  phase.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const CpuSeconds cpu_after = process_cpu_seconds();
  phase.cpu_seconds = cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system;
  phase.user_cpu_seconds = cpu_after.user - cpu_before.user;
  phase.requests = static_cast<std::int64_t>(latencies.size());
  phase.latency = summarise_latencies(std::move(latencies));
  return phase;
}

// The backend's own protocol code per request (protocol_work.h), on a reply the server sent to
// the same request: what of client CPU is hepinfer's code, measured hot.
nlohmann::json measure_own_protocol_work(const std::string& url, const std::string& model_name, const Model& model,
                                         std::int64_t rows, double seconds) {
  const PlainRequest request = plain_request_answered(url, model_name, model, rows, "protocol work");
  const std::string reply(request.socket->last_reply());
  const bench::ProtocolWork work =
      bench::measure_protocol_work(request.inputs, request.outputs, model_name, reply, seconds);
  return {{"iterations", work.iterations}, {"us_per_request", work.total_us()}, {"encode_us", work.encode_us},
          {"http_write_us", work.write_us}, {"http_read_us", work.read_us}, {"decode_us", work.decode_us},
          {"reply_bytes", reply.size()}};
}

// 16 requesters on two servers; the first server's process is killed a third of the way in.
// Every request is counted when it ends: it must end exactly once, with outputs.
nlohmann::json failover(const std::string& first, const std::string& second, const std::string& model_name,
                        pid_t kill_pid, int requesters, std::int64_t rows, double seconds) {
  auto model = remote::connect({{"first", first}, {"second", second}}, model_name, {},
                               {.timeout = std::chrono::seconds(5), .backoff = std::chrono::milliseconds(1)});
  const std::vector<NamedTensor> inputs = example_inputs(model->info(), rows, "bench", 7u);
  const std::vector<Tensor> expected = model->run(inputs, {});
  constexpr std::size_t kMaxRequests = 2'000'000;
  std::vector<std::atomic<int>> endings(kMaxRequests);
  std::atomic<std::int64_t> issued{0}, failed{0}, wrong{0};
  const Clock::time_point start = Clock::now();
  const auto span = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> threads;
  for (int t = 0; t < requesters; ++t) {
    threads.emplace_back([&] {
      while (Clock::now() < start + span) {
        const std::int64_t id = issued++;
        if (id >= static_cast<std::int64_t>(kMaxRequests)) break;
        try {
          const std::vector<Tensor> got = model->run(inputs, {});
          const auto a = got.at(0).values<float>();
          const auto b = expected.at(0).values<float>();
          if (!std::equal(a.begin(), a.end(), b.begin())) ++wrong;
        } catch (const Error& error) {
          ++failed;
        }
        ++endings[static_cast<std::size_t>(id)];
      }
    });
  }
  std::this_thread::sleep_for(span / 3);
  kill(kill_pid, SIGKILL);
  const double killed_at = std::chrono::duration<double>(Clock::now() - start).count();
  for (auto& thread : threads) thread.join();
  const std::int64_t total = std::min<std::int64_t>(issued, kMaxRequests);
  std::int64_t lost = 0, twice = 0;
  for (std::int64_t id = 0; id < total; ++id) {
    const int count = endings[static_cast<std::size_t>(id)];
    lost += count == 0 ? 1 : 0;
    twice += count > 1 ? 1 : 0;
  }
  const remote::RemoteStatistics statistics = model->statistics();
  nlohmann::json moves = nlohmann::json::array();
  for (const auto& move : statistics.failovers) moves.push_back(move.from + " -> " + move.to + ": " + move.reason);
  return {{"requests", total},       {"lost", lost},     {"answered_twice", twice},
          {"failed", failed.load()}, {"wrong", wrong.load()}, {"killed_at_s", killed_at},
          {"retries", statistics.retries}, {"failovers", moves}};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: bench_remote URL MODEL OUT.json [--seconds S] [--rows N] [--requesters N] "
                 "[--batch-delay-us D] [--second URL --kill-pid PID] [--plain-proxy URL --tls-proxy URL --tls-ca FILE] [--phases all|client-cpu]\n";
    return 2;
  }
  const std::string url = argv[1], model_name = argv[2], out = argv[3];
  double seconds = 3;
  std::int64_t rows = 16;
  int requesters = 16;
  long delay_us = 500;
  std::string second, plain_proxy, tls_proxy, tls_ca, phases = "all";
  pid_t kill_pid = 0;
  for (int i = 4; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--seconds") seconds = std::stod(value);
    else if (flag == "--rows") rows = std::stoll(value);
    else if (flag == "--requesters") requesters = std::stoi(value);
    else if (flag == "--batch-delay-us") delay_us = std::stol(value);
    else if (flag == "--second") second = value;
    else if (flag == "--kill-pid") kill_pid = static_cast<pid_t>(std::stol(value));
    else if (flag == "--plain-proxy") plain_proxy = value;
    else if (flag == "--tls-proxy") tls_proxy = value;
    else if (flag == "--tls-ca") tls_ca = value;
    else if (flag == "--phases") phases = value;
    else {
      std::cerr << "unknown option " << flag << "\n";
      return 2;
    }
  }
  if (phases != "all" && phases != "client-cpu") {
    std::cerr << "--phases: expected all or client-cpu, got '" << phases << "'\n";
    return 2;
  }
  try {
    nlohmann::json report = {{"benchmark", "remote"}, {"server", url}, {"model", model_name}, {"rows", rows},
                             {"requesters", requesters}, {"seconds", seconds}};
    for (remote::Encoding encoding : {remote::Encoding::kBinary, remote::Encoding::kJson}) {
      auto model = remote::connect({{"server", url}}, model_name, {}, {.encoding = encoding});
      const std::string name(remote::encoding_name(encoding));
      report["single_" + name] = measure(*model, 1, rows, seconds).json();
      if (encoding == remote::Encoding::kBinary) {
        report["plain_socket_floor"] = measure_plain_socket_floor(url, model_name, *model, rows, seconds).json();
        report["protocol_work"] = measure_own_protocol_work(url, model_name, *model, rows, seconds);
      }
      if (phases == "all") report["concurrent_" + name] = measure(*model, requesters, rows, seconds).json();
      std::cerr << "bench_remote: " << name << " done\n";
    }
    if (phases == "client-cpu") {
      std::ofstream(out) << report.dump(2) << "\n";
      return 0;
    }
    if (!plain_proxy.empty() && !tls_proxy.empty()) {
      // One requester, binary, through two instances of the same proxy, one of them speaking TLS:
      // the same hops and the same server, so the difference is what TLS costs the client.
      auto plain = remote::connect({{"plain proxy", plain_proxy}}, model_name);
      report["single_binary_plain_proxy"] = measure(*plain, 1, rows, seconds).json();
      auto secure = remote::connect({{"TLS proxy", tls_proxy, {.ca_file = tls_ca}}}, model_name);
      report["single_binary_tls_proxy"] = measure(*secure, 1, rows, seconds).json();
      std::cerr << "bench_remote: TLS done\n";
    }
    // Batching: many requesters of one row each, with and without the dynamic batcher.
    auto shared = std::shared_ptr<const Model>(remote::connect({{"server", url}}, model_name));
    const auto delay = std::chrono::microseconds(delay_us);
    {
      // The same requests as concurrent_binary, coalesced: client CPU per caller's request.
      batching::DynamicBatcher batcher(shared, {.max_batch_rows = 16 * rows, .max_delay = delay});
      report["concurrent_binary_batched"] = measure(batcher, requesters, rows, seconds).json();
      report["concurrent_binary_batched"]["mean_batch_rows"] = batcher.statistics().mean_batch_rows;
    }
    const Phase single_row = measure(*shared, 1, 1, seconds);
    const Phase unbatched = measure(*shared, requesters, 1, seconds);
    report["batching"] = {{"delay_us", delay_us},
                          {"single_request_1_row", single_row.json()},
                          {"unbatched", unbatched.json()},
                          {"p99_bound_us", static_cast<double>(delay_us) + 3 * single_row.latency.p50_us}};
    // One batch in flight (the default), then two: the next batch forms and leaves while the
    // previous one is still on the server.
    for (const int in_flight : {1, 2}) {
      batching::DynamicBatcher batcher(shared,
                                       {.max_batch_rows = 256, .max_delay = delay, .batches_in_flight = in_flight});
      const Phase batched = measure(batcher, requesters, 1, seconds);
      nlohmann::json& entry = report["batching"][in_flight == 1 ? "batched" : "batched_2_in_flight"];
      entry = batched.json();
      entry["mean_batch_rows"] = batcher.statistics().mean_batch_rows;
      entry["rate_ratio"] = static_cast<double>(batched.requests) * unbatched.seconds /
                            std::max(1.0, static_cast<double>(unbatched.requests) * batched.seconds);
    }
    std::cerr << "bench_remote: batching done\n";
    if (!second.empty() && kill_pid > 0) {
      report["failover"] = failover(url, second, model_name, kill_pid, requesters, rows, seconds);
      std::cerr << "bench_remote: failover done\n";
    }
    std::ofstream(out) << report.dump(2) << "\n";
  } catch (const std::exception& error) {
    std::cerr << "bench_remote: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
