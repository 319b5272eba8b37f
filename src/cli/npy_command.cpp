// `hepinfer npy FILE...`: dtype, shape and value range of .npy files (no TensorFlow needed).

#include <algorithm>
#include <iostream>
#include <type_traits>
#include <vector>

#include "commands.h"
#include "hepinfer/core/npy.h"

namespace hepinfer::cli {
namespace {

template <class T>
void print_range(const Tensor& tensor) {
  const auto values = tensor.values<T>();
  if (values.empty()) return;
  if constexpr (std::is_same_v<T, Float16>) {
    std::vector<float> widened(values.size());
    std::transform(values.begin(), values.end(), widened.begin(), [](Float16 value) { return value.to_float(); });
    const auto [low, high] = std::minmax_element(widened.begin(), widened.end());
    std::cout << "  min " << *low << "  max " << *high;
  } else {
    const auto [low, high] = std::minmax_element(values.begin(), values.end());
    std::cout << "  min " << +*low << "  max " << +*high;
  }
}

void print_summary(const std::string& file, const Tensor& tensor) {
  std::cout << file << ": " << tensor.description();
  visit_dtype(tensor.dtype(), [&tensor]<class T>() { print_range<T>(tensor); });
  std::cout << "\n";
}

}  // namespace

void add_npy_command(CLI::App& app) {
  auto files = std::make_shared<std::vector<std::string>>();
  CLI::App* command = app.add_subcommand("npy", "Show dtype, shape and value range of .npy files");
  command->add_option("files", *files, ".npy files")->required();
  command->callback([files] {
    for (const std::string& file : *files) print_summary(file, read_npy(file));
  });
}

}  // namespace hepinfer::cli
