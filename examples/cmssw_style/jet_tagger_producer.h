#pragma once
// A CMSSW-style jet tagger with hepinfer: the model lives in the global cache (one per process,
// shared by every stream), each stream's module submits its event's jets in acquire() and
// stores the probabilities in produce(). The dynamic batcher is the external worker: while it
// merges jets from concurrent events and runs them, the stream's thread does other work.
#include <memory>
#include <optional>

#include "hepinfer/batching/dynamic_batcher.h"
#include "hepinfer/scheduler/resource_scheduler.h"
#include "hepinfer/tensorflow/tf_model.h"
#include "mini_framework.h"

struct JetTaggerCache {
  hepinfer::scheduler::ClaimTicket ticket;  // from construction; the assignment after the plan
  std::string model_path;
  std::shared_ptr<const hepinfer::Model> model;
  std::unique_ptr<hepinfer::batching::DynamicBatcher> batcher;
};

class JetTaggerProducer {
 public:
  // Construction: claim devices (the plan is made later, once, for every module of the job).
  static std::unique_ptr<JetTaggerCache> initializeGlobalCache(const mini::ParameterSet& parameters,
                                                               mini::Services& services) {
    return std::make_unique<JetTaggerCache>(JetTaggerCache{
        .ticket = services.scheduler.claim({.module = parameters.at("label"), .gpus = 1, .memory_mib = 1024,
                                            .cpu_fallback = true}),
        .model_path = parameters.at("model")});
  }

  // Begin job: the plan exists; load the model where it put this module, warmed up.
  static void globalBeginJob(JetTaggerCache* cache) {
    const hepinfer::scheduler::Assignment& assignment = cache->ticket.assignment();
    cache->model = hepinfer::tf::load_model(
        cache->model_path, {.warmup_runs = 1, .warmup_batch_sizes = {1, 32}, .placement = assignment});
    cache->batcher = std::make_unique<hepinfer::batching::DynamicBatcher>(
        cache->model, hepinfer::batching::BatcherOptions{.max_batch_rows = 256,
                                                         .max_delay = std::chrono::microseconds(100)});
  }

  static void globalEndJob(JetTaggerCache* cache) { cache->batcher.reset(); }  // completes pending work

  JetTaggerProducer(const mini::ParameterSet&, const JetTaggerCache* cache) : cache_(cache) {}

  void acquire(const mini::Event& event, mini::WaitingTaskWithArenaHolder holder) {
    cache_->batcher->submit({{"jets", event.products.at("jets")}, {"constituents", event.products.at("constituents")}},
                            {}, [this, holder](hepinfer::batching::BatchResult result) {
                              if (!result.error) probabilities_ = std::move(result.outputs.at(0));
                              holder.done_waiting(result.error);
                            });
  }

  void produce(mini::Event& event) { event.products["jet_probabilities"] = std::move(*probabilities_); }

 private:
  const JetTaggerCache* cache_;
  std::optional<hepinfer::Tensor> probabilities_;  // per stream: one event in flight at a time
};
