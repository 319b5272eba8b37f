#include "job/inference_module.h"

#include <iomanip>
#include <sstream>
#ifdef HEPINFER_HAS_REMOTE
#include "hepinfer/remote/remote_model.h"
#endif

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "hepinfer/core/error.h"
#include "hepinfer/core/latency.h"
#include "nlohmann/json.hpp"

namespace hepinfer::framework {
namespace {

constexpr double kProbabilityTolerance = 1e-4;
// Python and C++ TF may pick different kernels for different batch shapes (dynamic batching
// merges events), so agreement is checked to float32 accuracy, not bit for bit.
constexpr double kReferenceTolerance = 1e-4;
constexpr double kChecksumScale = 65536.0;

double weighted_sum(std::span<const float> values) {
  double total = 0;
  for (std::size_t i = 0; i < values.size(); ++i) total += values[i] * static_cast<double>(i % 7 + 1);
  return total;
}

std::int64_t expected_rows(ModuleKind kind, const SyntheticEvent& event) {
  switch (kind) {
    case ModuleKind::kJetTagger: return event.jets.rows();
    case ModuleKind::kEventClassifier: return 1;
    case ModuleKind::kParticleFlow: return event.particles.rows();
  }
  return 0;
}

// What is wrong with a module's outputs for an event of `rows` rows; empty: nothing. Every kind
// gives one float32 output with a row per input row, finite; classifiers' rows sum to 1.
std::string output_problem(ModuleKind kind, const std::vector<Tensor>& outputs, std::int64_t rows) {
  if (outputs.empty() || outputs[0].dtype() != DType::kFloat32 || outputs[0].shape().rank() < 1 ||
      outputs[0].rows() != rows) {
    return "expected a float32 output with " + std::to_string(rows) + " rows, got " +
           (outputs.empty() ? std::string("no output")
                            : std::string(dtype_name(outputs[0].dtype())) + " " + outputs[0].shape().to_string());
  }
  const std::span<const float> values = outputs[0].values<float>();
  if (!std::all_of(values.begin(), values.end(), [](float v) { return std::isfinite(v); })) {
    return "output has NaN or infinite values";
  }
  if (kind == ModuleKind::kParticleFlow) return {};
  const std::int64_t width = rows > 0 ? static_cast<std::int64_t>(values.size()) / rows : 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    double total = 0;
    for (std::int64_t c = 0; c < width; ++c) total += values[static_cast<std::size_t>(r * width + c)];
    if (std::abs(total - 1.0) > kProbabilityTolerance) {
      return "probabilities of row " + std::to_string(r) + " sum to " + std::to_string(total) + ", not 1";
    }
  }
  return {};
}

}  // namespace

// Python TF's outputs for the first events of one seed (tools/make_demo_models.py).
struct InferenceModule::Reference {
  struct Event {
    std::int64_t rows = 0;
    double sum = 0, abs_sum = 0, weighted_sum = 0;
    std::vector<double> first;

    // The largest difference from `values` (with their weighted sum `checksum`): of the sums,
    // relative to the reference's size, and of the first values.
    double difference(std::span<const float> values, double checksum) const {
      double total = 0, absolute = 0;
      for (const float v : values) {
        total += v;
        absolute += std::abs(v);
      }
      const double scale = abs_sum + 1.0;
      double largest =
          std::max({std::abs(total - sum), std::abs(checksum - weighted_sum), std::abs(absolute - abs_sum)}) / scale;
      for (std::size_t i = 0; i < first.size() && i < values.size(); ++i) {
        largest = std::max(largest, std::abs(values[i] - first[i]));
      }
      return largest;
    }
  };
  std::map<std::int64_t, Event> events;

  // Empty when the file does not exist or was written for another seed.
  static std::unique_ptr<Reference> read(const std::filesystem::path& path, std::uint64_t seed) {
    std::ifstream file(path);
    if (!file) return nullptr;
    try {
      const nlohmann::json json = nlohmann::json::parse(file);
      if (json.at("seed").get<std::uint64_t>() != seed) return nullptr;
      auto reference = std::make_unique<Reference>();
      for (const auto& [number, entry] : json.at("events").items()) {
        reference->events[std::stoll(number)] = Event{entry.at("rows").get<std::int64_t>(), entry.at("sum").get<double>(),
                                                      entry.at("abs_sum").get<double>(),
                                                      entry.at("weighted_sum").get<double>(),
                                                      entry.at("first").get<std::vector<double>>()};
      }
      return reference;
    } catch (const std::exception& error) {
      throw InvalidArgumentError("reference outputs '" + path.string() + "' are malformed: " + error.what());
    }
  }
};

InferenceModule::InferenceModule(ModuleSetup setup, scheduler::ResourceScheduler& scheduler, std::uint64_t seed)
    : setup_(std::move(setup)), seed_(seed), ticket_(scheduler.claim(setup_.claim)) {}

InferenceModule::~InferenceModule() = default;

void InferenceModule::begin_job(const ModelLoader& load) {
  const scheduler::Assignment& assignment = ticket_.assignment();
  model_ = load(setup_, assignment);
  if (!model_) throw InvalidModelError("module '" + setup_.name + "': the loader returned no model");

  batching::SplitOptions split{.max_batch_rows = setup_.split_rows};
  memory_budget_bytes_ =
      assignment.on_cpu() ? setup_.cpu_memory_budget_mib * 1024 * 1024 : assignment.memory_bytes();
  if (memory_budget_bytes_ > 0 && model_->info().memory) split.memory_budget_bytes = memory_budget_bytes_;
  split.on_out_of_memory = [name = setup_.name](const std::string& message) {
    std::clog << "hepinfer: module '" << name << "': " << message << "\n";
  };
  try {
    splitter_ = std::make_shared<batching::SplittingModel>(model_, split);
  } catch (const Error& error) {
    throw_error(error.code(), "module '" + setup_.name + "': " + error.what());
  }
  if (setup_.batching) {
    batcher_ = std::make_unique<batching::DynamicBatcher>(
        splitter_, batching::BatcherOptions{.max_batch_rows = setup_.batch_rows,
                                            .max_delay = setup_.batch_delay,
                                            .batches_in_flight = setup_.batches_in_flight});
  }
  reference_ = Reference::read(setup_.model.parent_path() / "reference.json", seed_);
}

std::vector<NamedTensor> InferenceModule::inputs_for(const SyntheticEvent& event) const {
  switch (setup_.kind) {
    case ModuleKind::kJetTagger: return {{"jets", event.jets}, {"constituents", event.constituents}};
    case ModuleKind::kEventClassifier: return {{"event", event.event}};
    case ModuleKind::kParticleFlow: return {{"particles", event.particles}};
  }
  return {};
}

void InferenceModule::process(const SyntheticEvent& event) {
  if (!splitter_) throw FailedPreconditionError("module '" + setup_.name + "': process() before begin_job()");
  const auto started = std::chrono::steady_clock::now();
  const std::vector<Tensor> outputs = batcher_ ? batcher_->run(inputs_for(event), {}) : splitter_->run(inputs_for(event), {});
  check(event, outputs, started);
}

void InferenceModule::acquire(const SyntheticEvent& event, std::function<void(Acquired)> resume) {
  if (!batcher_) {
    throw FailedPreconditionError("module '" + setup_.name + "': acquire() needs batching and begin_job()");
  }
  const auto started = std::chrono::steady_clock::now();
  batcher_->submit(inputs_for(event), {}, [resume = std::move(resume), started](batching::BatchResult result) {
    resume(Acquired{std::move(result), started});
  });
}

void InferenceModule::produce(const SyntheticEvent& event, Acquired acquired) {
  if (acquired.result.error) std::rethrow_exception(acquired.result.error);
  check(event, acquired.result.outputs, acquired.started);
}

void InferenceModule::fail_check(const std::string& message) {
  if (failed_checks_++ == 0) first_failure_ = message;
}

void InferenceModule::check(const SyntheticEvent& event, const std::vector<Tensor>& outputs,
                            std::chrono::steady_clock::time_point started) {
  const std::int64_t rows = expected_rows(setup_.kind, event);
  const std::string problem = output_problem(setup_.kind, outputs, rows);
  const std::span<const float> values = problem.empty() ? outputs[0].values<float>() : std::span<const float>();
  const double checksum = weighted_sum(values);
  const double latency_us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - started).count();

  const std::lock_guard lock(mutex_);
  ++calls_;
  rows_ += rows;
  latencies_us_.push_back(static_cast<float>(latency_us));
  const std::string where = "module '" + setup_.name + "' event " + std::to_string(event.number) + ": ";
  if (!problem.empty()) {
    fail_check(where + problem);
    return;
  }
  checksum_fixed_ += std::llround(checksum * kChecksumScale);  // finite: checked above
  if (!reference_) return;
  const auto expected = reference_->events.find(event.number);
  if (expected == reference_->events.end()) return;
  const Reference::Event& want = expected->second;
  const double difference = want.difference(values, checksum);
  ++reference_checked_;
  reference_max_difference_ = std::max(reference_max_difference_, difference);
  if (want.rows != rows || difference > kReferenceTolerance) {
    std::ostringstream message;
    message << where << "disagrees with Python TensorFlow: " << rows << " rows (reference " << want.rows
            << "), largest difference " << difference << " (tolerance " << kReferenceTolerance << ")";
    fail_check(message.str());
  }
}

void InferenceModule::end_job() {
  if (batcher_) {
    batcher_.reset();  // completes every pending request first
  }
}

ModuleReport InferenceModule::report(double event_loop_seconds) const {
  ModuleReport report{.name = setup_.name, .kind = setup_.kind, .mode = setup_.mode, .batching = setup_.batching};
  if (ticket_.ready()) {
    const scheduler::Assignment& assignment = ticket_.assignment();
    report.assigned_device = assignment.on_server() ? "server " + assignment.servers.front().name
                             : assignment.on_cpu()  ? "CPU"
                                                    : "GPU " + std::to_string(assignment.devices.front());
    report.device = report.assigned_device;  // until a model says otherwise
  }
  report.memory_budget_bytes = memory_budget_bytes_;
  if (model_) {
    const ModelInfo& info = model_->info();
    report.device = !info.server.empty() ? "server " + info.server
                    : info.gpu           ? "GPU " + std::to_string(*info.gpu)
                                         : "CPU";
    report.placement_note = info.placement_note;
    report.backend_device = info.device;
    report.load_ms = model_->info().timing.load_ms;
    report.warmup_ms = model_->info().timing.warmup_ms;
#ifdef HEPINFER_HAS_REMOTE
    if (const std::optional<remote::RemoteStatistics> remote = remote::statistics_of(*model_)) {
      report.local_runs = remote->local_runs;
      report.remote_retries = remote->retries;
      for (const remote::Failover& failover : remote->failovers) {
        std::ostringstream line;
        line << std::fixed << std::setprecision(2) << failover.seconds << " s: " << failover.from << " -> "
             << failover.to << " (" << failover.reason << ")";
        report.failovers.push_back(line.str());
      }
    }
#endif
  }
  if (splitter_) {
    const batching::SplitStatistics split = splitter_->statistics();
    report.backend_runs = split.backend_runs;
    report.split_runs = split.split_runs;
    report.out_of_memory_retries = split.out_of_memory_retries;
    report.largest_backend_rows = split.largest_backend_rows;
    report.model_runs = split.runs;
    if (model_ && model_->info().memory && split.largest_backend_rows > 0) {
      report.estimated_peak_bytes = model_->info().memory->bytes_for(split.largest_backend_rows);
    }
  }
  const std::lock_guard lock(mutex_);
  report.calls = calls_;
  report.rows = rows_;
  report.mean_batch_rows = report.model_runs > 0 ? static_cast<double>(rows_) / static_cast<double>(report.model_runs) : 0;
  const LatencySummary latency = summarise_latencies({latencies_us_.begin(), latencies_us_.end()});
  report.latency_p50_us = latency.p50_us;
  report.latency_p99_us = latency.p99_us;
  report.rows_per_second = event_loop_seconds > 0 ? static_cast<double>(rows_) / event_loop_seconds : 0;
  report.reference_events_checked = reference_checked_;
  report.reference_max_difference = reference_max_difference_;
  report.failed_checks = failed_checks_;
  report.first_failure = first_failure_;
  report.checksum = static_cast<double>(checksum_fixed_) / kChecksumScale;
  return report;
}

}  // namespace hepinfer::framework
