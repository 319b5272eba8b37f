// The smallest complete hepinfer program: load a SavedModel once, run it on a batch.
#include <hepinfer/hepinfer.h>

#include <iostream>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: minimal_inference SAVED_MODEL_DIR\n";
    return 2;
  }
  try {
    // Load once per process and share: run() is safe to call from many threads at once.
    const std::unique_ptr<hepinfer::Model> model = hepinfer::tf::load_model(argv[1]);

    hepinfer::Tensor x(hepinfer::DType::kFloat32, {2, 32});  // a batch of 2 rows, zero-filled
    x.values<float>()[0] = 1.0f;

    // Inputs and outputs are named by the signature's keys (see `hepinfer inspect`).
    const std::vector<hepinfer::Tensor> outputs = model->run({{"x", x}}, {"output_0"});
    std::cout << "output_0 is " << outputs[0].description() << ":";
    for (float probability : outputs[0].values<float>()) std::cout << ' ' << probability;
    std::cout << '\n';
  } catch (const hepinfer::Error& error) {
    std::cerr << "error: " << error.what() << '\n';
    return 1;
  }
  return 0;
}
