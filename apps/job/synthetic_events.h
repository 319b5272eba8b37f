#pragma once
// The demo job's events: synthetic, but a pure function of (seed, event number), so any stream
// may process any event and every output can be checked. tools/make_demo_models.py reproduces
// the generator bit for bit to compute Python TensorFlow's reference outputs.
//
// An event has 1-12 jets (jets [n, 8], constituents [n, 16, 4]), event-level features [1, 16]
// and 200-3000 particles [n, 8]; values are uniform in [-1, 1) with 24 random bits each.
#include <cstdint>

#include "hepinfer/core/tensor.h"

namespace hepinfer::framework {

struct SyntheticEvent {
  std::int64_t number = 0;
  Tensor jets;          // float32 [jets, 8]
  Tensor constituents;  // float32 [jets, 16, 4]
  Tensor event;         // float32 [1, 16]
  Tensor particles;     // float32 [particles, 8]
};

// Throws InvalidArgumentError for a negative event number.
SyntheticEvent make_synthetic_event(std::uint64_t seed, std::int64_t number);

}  // namespace hepinfer::framework
