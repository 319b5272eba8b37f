// `hepinfer npy FILE...`: dtype, shape and value range of .npy files (no TensorFlow needed).

#include <algorithm>
#include <iostream>

#include "commands.h"
#include "hepinfer/core/npy.h"

namespace hepinfer::cli {
namespace {

template <class T>
void print_range(const Tensor& tensor) {
  const auto values = tensor.values<T>();
  if (values.empty()) return;
  const auto [low, high] = std::minmax_element(values.begin(), values.end());
  std::cout << "  min " << +*low << "  max " << +*high;
}

void print_summary(const std::string& file, const Tensor& tensor) {
  std::cout << file << ": " << tensor.description();
  switch (tensor.dtype()) {
    case DType::kFloat32: print_range<float>(tensor); break;
    case DType::kFloat64: print_range<double>(tensor); break;
    case DType::kInt32: print_range<std::int32_t>(tensor); break;
    case DType::kInt64: print_range<std::int64_t>(tensor); break;
    case DType::kBool: print_range<bool>(tensor); break;
  }
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
