// Runs the CMSSW-style jet tagger in the stand-in framework on synthetic events and checks every
// event's output: one row of four probabilities per jet. Given a SavedModel it runs
// jet_tagger_producer.h (TensorFlow backend, dynamic batcher as external work); given an AOT
// package, aot_jet_tagger_producer.h (a plain stream producer, as CMSSW's TFAOT modules).
#include <cmath>
#include <iostream>

#include "job/synthetic_events.h"
#include "hepinfer/tensorflow/device_plan.h"
#include "aot_jet_tagger_producer.h"
#include "jet_tagger_producer.h"

namespace {

hepinfer::framework::SyntheticEvent synthetic(std::int64_t number) {
  return hepinfer::framework::make_synthetic_event(12345, number);
}

template <class Producer>
std::vector<mini::Event> run_with(const std::string& model, hepinfer::scheduler::ResourceScheduler& scheduler,
                                  std::int64_t events) {
  return mini::run_process<Producer>({{"label", "jet_tagger"}, {"model", model}}, scheduler, /*streams=*/4,
                                     /*threads=*/2, events, [](std::int64_t number) {
                                       const hepinfer::framework::SyntheticEvent event = synthetic(number);
                                       return mini::Event{number, {{"jets", event.jets}, {"constituents", event.constituents}}};
                                     });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: cmssw_style_example JET_TAGGER_SAVED_MODEL|JET_TAGGER_AOT_PACKAGE\n";
    return 2;
  }
  try {
    // The framework owns the scheduler; the TF hooks take TF's GPU settings from its plan.
    hepinfer::scheduler::ResourceScheduler scheduler(hepinfer::scheduler::Inventory{}, {}, hepinfer::tf::runtime_hooks());
    const std::int64_t events = 400;
    const bool aot = hepinfer::aot::is_aot_package(argv[1]);
    const std::vector<mini::Event> done = aot ? run_with<AotJetTaggerProducer>(argv[1], scheduler, events)
                                              : run_with<JetTaggerProducer>(argv[1], scheduler, events);
    std::int64_t jets = 0;
    for (const mini::Event& event : done) {
      const hepinfer::Tensor& probabilities = event.products.at("jet_probabilities");
      const std::int64_t rows = event.products.at("jets").rows();
      if (probabilities.shape() != hepinfer::Shape({rows, 4})) {
        std::cerr << "event " << event.number << ": got " << probabilities.description() << "\n";
        return 1;
      }
      const auto values = probabilities.values<float>();
      for (std::int64_t r = 0; r < rows; ++r) {
        const float total = values[r * 4] + values[r * 4 + 1] + values[r * 4 + 2] + values[r * 4 + 3];
        if (std::abs(total - 1.0f) > 1e-4f) {
          std::cerr << "event " << event.number << " jet " << r << ": probabilities sum to " << total << "\n";
          return 1;
        }
      }
      jets += rows;
    }
    std::cout << "cmssw-style jet tagger (" << (aot ? "AOT package" : "TensorFlow") << "): " << done.size() << " events, " << jets << " jets tagged, all checked\n";
  } catch (const std::exception& error) {
    std::cerr << "error: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
