#include "job/synthetic_events.h"

#include <string>

#include "hepinfer/core/error.h"

namespace hepinfer::framework {
namespace {

// Collection ids; tools/make_demo_models.py uses the same.
enum Collection : std::uint64_t { kJetCount, kParticleCount, kJets, kConstituents, kEvent, kParticles };
constexpr std::int64_t kMaxJets = 12, kMinParticles = 200, kMaxParticles = 3000, kConstituentsPerJet = 16;

// splitmix64: a counter-based generator, so that each value depends only on its position.
std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

std::uint64_t stream_key(std::uint64_t seed, std::int64_t event, Collection collection) {
  return splitmix64(splitmix64(seed) ^ splitmix64(static_cast<std::uint64_t>(event) * 8 + collection));
}

Tensor uniform(std::uint64_t seed, std::int64_t event, Collection collection, Shape shape) {
  Tensor tensor(DType::kFloat32, std::move(shape));
  const std::uint64_t key = stream_key(seed, event, collection);
  auto values = tensor.values<float>();
  for (std::size_t i = 0; i < values.size(); ++i) {
    const auto bits = static_cast<float>(splitmix64(key + i) >> 40);  // 24 bits: exact in float
    values[i] = bits / 8388608.0f - 1.0f;
  }
  return tensor;
}

}  // namespace

SyntheticEvent make_synthetic_event(std::uint64_t seed, std::int64_t number) {
  if (number < 0) throw InvalidArgumentError("synthetic event number must be >= 0, got " + std::to_string(number));
  const auto jets = 1 + static_cast<std::int64_t>(stream_key(seed, number, kJetCount) % kMaxJets);
  const auto particles = kMinParticles + static_cast<std::int64_t>(stream_key(seed, number, kParticleCount) %
                                                                   (kMaxParticles - kMinParticles + 1));
  return SyntheticEvent{
      .number = number,
      .jets = uniform(seed, number, kJets, Shape({jets, 8})),
      .constituents = uniform(seed, number, kConstituents, Shape({jets, kConstituentsPerJet, 4})),
      .event = uniform(seed, number, kEvent, Shape({1, 16})),
      .particles = uniform(seed, number, kParticles, Shape({particles, 8})),
  };
}

}  // namespace hepinfer::framework
