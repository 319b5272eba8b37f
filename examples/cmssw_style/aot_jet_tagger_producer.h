#pragma once
// The CMSSW-style jet tagger on an ahead-of-time compiled package (hepinfer compile --target
// cpu-aot), as CMSSW's TFAOT modules run: a plain stream producer. The package is loaded once in
// the global cache and shared by every stream; produce() runs it on the stream's own thread, a
// function call with no session, no external work and no thread of its own, so the module needs
// neither acquire() nor a batcher, and claims no GPU.
#include <memory>

#include "hepinfer/aot/aot_model.h"
#include "hepinfer/scheduler/resource_scheduler.h"
#include "mini_framework.h"

struct AotJetTaggerCache {
  hepinfer::scheduler::ClaimTicket ticket;  // a CPU claim: the plan still lists the module
  std::string package_path;
  std::unique_ptr<hepinfer::Model> model;
};

class AotJetTaggerProducer {
 public:
  static std::unique_ptr<AotJetTaggerCache> initializeGlobalCache(const mini::ParameterSet& parameters,
                                                                  mini::Services& services) {
    return std::make_unique<AotJetTaggerCache>(AotJetTaggerCache{
        .ticket = services.scheduler.claim({.module = parameters.at("label"), .gpus = 0}),
        .package_path = parameters.at("model")});
  }

  // Loading checks the package against this CPU; warm-up fills the instance pool for one stream.
  static void globalBeginJob(AotJetTaggerCache* cache) {
    cache->model = hepinfer::aot::load_model(cache->package_path, {.warmup_runs = 1, .warmup_batch_sizes = {1}});
  }

  static void globalEndJob(AotJetTaggerCache*) {}

  AotJetTaggerProducer(const mini::ParameterSet&, const AotJetTaggerCache* cache) : cache_(cache) {}

  void produce(mini::Event& event) {
    std::vector<hepinfer::Tensor> outputs = cache_->model->run(
        {{"jets", event.products.at("jets")}, {"constituents", event.products.at("constituents")}}, {});
    event.products["jet_probabilities"] = std::move(outputs.at(0));
  }

 private:
  const AotJetTaggerCache* cache_;
};
