#include <gtest/gtest.h>

#include "hepinfer/tensorflow/tf_runtime.h"

int main(int argc, char** argv) {
  hepinfer::tf::set_log_level(hepinfer::tf::LogLevel::kWarning);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
