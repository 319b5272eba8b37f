#include "job/job_workflow.h"

#include <algorithm>
#include <charconv>
#include <set>
#include <thread>

#include "hepinfer/core/error.h"

namespace hepinfer::framework {
namespace {

constexpr std::string_view kDefaultWorkflow = R"(# hepinfer's default job: three modules of an event reconstruction on synthetic events.
# The jet tagger wants a GPU most; the event classifier can live anywhere; particle flow runs
# on the CPU and splits its large batches.
policy: spread
headroom_mib: 1024
# Threads and streams: one per core unless set here or on the command line.
job: {events: 5000, seed: 12345}
modules:
  - name: jet_tagger
    model: jet_tagger/saved_model
    claim: {gpus: 1, memory_mib: 2048, priority: 2, cpu_fallback: true, typical_batch_size: 64}
    settings: {kind: jet_tagger, mode: async, batching: true, batch_rows: 256, batch_delay_us: 200}
  - name: event_classifier
    model: event_classifier/frozen.pb
    claim: {gpus: 1, memory_mib: 512, priority: 1, cpu_fallback: true, typical_batch_size: 1}
    settings: {kind: event_classifier, mode: sync}
  - name: particle_flow
    model: particle_flow/saved_model
    claim: {gpus: 0}
    settings: {kind: particle_flow, mode: sync, split_rows: 1024}
)";

class SettingReader {
 public:
  SettingReader(const std::string& source, std::string field, const framework::Settings& settings,
                std::set<std::string> allowed)
      : source_(source), field_(std::move(field)), settings_(settings) {
    for (const auto& [key, setting] : settings_) {
      if (!allowed.contains(key)) fail(key, setting, "unknown setting");
    }
  }

  [[noreturn]] void fail(const std::string& key, const framework::Setting& setting, const std::string& what) const {
    throw InvalidArgumentError("'" + source_ + "'" + (setting.line > 0 ? " line " + std::to_string(setting.line) : "") +
                               ": " + field_ + "." + key + ": " + what);
  }

  template <class T>
  void integer(const std::string& key, T& value, T minimum) const {
    const auto found = settings_.find(key);
    if (found == settings_.end()) return;
    const std::string& text = found->second.value;
    T parsed{};
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), parsed);
    if (error != std::errc() || end != text.data() + text.size()) {
      fail(key, found->second, "expected an integer, got '" + text + "'");
    }
    if (parsed < minimum) {
      fail(key, found->second, "expected at least " + std::to_string(minimum) + ", got " + text);
    }
    value = parsed;
  }

  void boolean(const std::string& key, bool& value) const {
    const auto found = settings_.find(key);
    if (found == settings_.end()) return;
    if (found->second.value == "true") {
      value = true;
    } else if (found->second.value == "false") {
      value = false;
    } else {
      fail(key, found->second, "expected true or false, got '" + found->second.value + "'");
    }
  }

  const framework::Setting* find(const std::string& key) const {
    const auto found = settings_.find(key);
    return found == settings_.end() ? nullptr : &found->second;
  }

 private:
  const std::string& source_;
  std::string field_;
  const framework::Settings& settings_;
};

ModuleSetup module_setup(const framework::ModuleConfig& module, const std::string& source, const std::string& field,
                         const std::filesystem::path& models_directory) {
  const SettingReader reader(source, field + ".settings", module.settings,
                             {"kind", "mode", "batching", "batch_rows", "batch_delay_us", "split_rows",
                              "cpu_memory_budget_mib"});
  ModuleSetup setup{.name = module.name, .claim = module.claim};
  if (module.model.empty()) {
    throw InvalidArgumentError("'" + source + "': " + field + ".model: module '" + module.name + "' needs a model");
  }
  const std::filesystem::path model(module.model);
  setup.model = model.is_absolute() ? model : models_directory / model;

  const framework::Setting* kind = reader.find("kind");
  if (kind == nullptr) {
    throw InvalidArgumentError("'" + source + "': " + field + ".settings.kind: module '" + module.name +
                               "' needs a kind: jet_tagger, event_classifier or particle_flow");
  }
  if (kind->value == "jet_tagger") {
    setup.kind = ModuleKind::kJetTagger;
  } else if (kind->value == "event_classifier") {
    setup.kind = ModuleKind::kEventClassifier;
  } else if (kind->value == "particle_flow") {
    setup.kind = ModuleKind::kParticleFlow;
  } else {
    reader.fail("kind", *kind, "expected jet_tagger, event_classifier or particle_flow, got '" + kind->value + "'");
  }
  if (const framework::Setting* mode = reader.find("mode")) {
    if (mode->value == "sync") {
      setup.mode = ExecutionMode::kSync;
    } else if (mode->value == "async") {
      setup.mode = ExecutionMode::kAsync;
    } else {
      reader.fail("mode", *mode, "expected sync or async, got '" + mode->value + "'");
    }
  }
  reader.boolean("batching", setup.batching);
  reader.integer<std::int64_t>("batch_rows", setup.batch_rows, 1);
  std::int64_t delay_us = setup.batch_delay.count();
  reader.integer<std::int64_t>("batch_delay_us", delay_us, 0);
  setup.batch_delay = std::chrono::microseconds(delay_us);
  reader.integer<std::int64_t>("split_rows", setup.split_rows, 0);
  reader.integer<std::int64_t>("cpu_memory_budget_mib", setup.cpu_memory_budget_mib, 0);
  if (setup.mode == ExecutionMode::kAsync && !setup.batching) {
    reader.fail("mode", *reader.find("mode"),
                "async needs batching: true (the batcher is the external worker that completes the request)");
  }
  return setup;
}

}  // namespace

std::string_view module_kind_name(ModuleKind kind) {
  switch (kind) {
    case ModuleKind::kJetTagger: return "jet_tagger";
    case ModuleKind::kEventClassifier: return "event_classifier";
    case ModuleKind::kParticleFlow: return "particle_flow";
  }
  return "unknown";
}

std::string_view execution_mode_name(ExecutionMode mode) {
  return mode == ExecutionMode::kAsync ? "async" : "sync";
}

JobWorkflow job_workflow_from(const framework::WorkflowConfig& config, const std::filesystem::path& models_directory) {
  JobWorkflow workflow{.source = config.source, .plan = config.plan};
  const SettingReader job(config.source, "job", config.job, {"events", "streams", "threads", "seed"});
  job.integer<std::int64_t>("events", workflow.job.events, 0);
  job.integer<int>("streams", workflow.job.streams, 1);
  job.integer<int>("threads", workflow.job.threads, 1);
  job.integer<std::uint64_t>("seed", workflow.job.seed, 0);
  if (config.modules.empty()) {
    throw InvalidArgumentError("'" + config.source + "': modules: a job needs at least one module");
  }
  for (std::size_t i = 0; i < config.modules.size(); ++i) {
    workflow.modules.push_back(
        module_setup(config.modules[i], config.source, "modules[" + std::to_string(i) + "]", models_directory));
  }
  return workflow;
}

JobSettings with_defaults(JobSettings settings) {
  if (settings.threads == 0) settings.threads = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  if (settings.streams == 0) settings.streams = settings.threads;
  return settings;
}

void disable_batching(JobWorkflow& workflow) {
  for (ModuleSetup& module : workflow.modules) {
    module.batching = false;
    module.mode = ExecutionMode::kSync;
  }
}

std::string_view default_workflow_yaml() { return kDefaultWorkflow; }

}  // namespace hepinfer::framework
