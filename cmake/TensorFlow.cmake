# Locates the TensorFlow C++ runtime and defines the imported target hepinfer::tensorflow_runtime.
#
# Default: ask the project's virtual environment (scripts/setup.sh) through tf.sysconfig.
# Another TF installation (a framework's own build) is selected by setting both
#   HEPINFER_TF_INCLUDE_DIR  headers (tensorflow/, absl/, google/protobuf/, Eigen/ ...)
#   HEPINFER_TF_LIBRARY_DIR  libtensorflow_cc.so.2 and libtensorflow_framework.so.2
# and optionally HEPINFER_TF_DEFINITIONS (default: the wheel's ABI and Eigen alignment flags).
#
# TF's bundled protobuf/abseil headers come first and as SYSTEM includes; nothing from Debian's
# protobuf, abseil or gRPC may be linked into a target that uses this one.

set(HEPINFER_TF_INCLUDE_DIR "" CACHE PATH "TensorFlow C++ headers (overrides tf.sysconfig)")
set(HEPINFER_TF_LIBRARY_DIR "" CACHE PATH "Directory of libtensorflow_cc.so.2 (overrides tf.sysconfig)")
set(HEPINFER_TF_DEFINITIONS "" CACHE STRING "Compile definitions TF's headers need (overrides tf.sysconfig)")

if(NOT HEPINFER_TF_INCLUDE_DIR OR NOT HEPINFER_TF_LIBRARY_DIR)
  if(NOT EXISTS "${HEPINFER_PYTHON}")
    message(FATAL_ERROR
      "hepinfer: no TensorFlow found. Run scripts/setup.sh to create ${PROJECT_SOURCE_DIR}/.venv, "
      "set HEPINFER_PYTHON to an interpreter with tensorflow installed, set HEPINFER_TF_INCLUDE_DIR "
      "and HEPINFER_TF_LIBRARY_DIR, or configure with -DHEPINFER_WITH_TENSORFLOW=OFF.")
  endif()
  execute_process(
    COMMAND "${HEPINFER_PYTHON}" -c
      "import os; os.environ['TF_CPP_MIN_LOG_LEVEL']='3'\nimport tensorflow as tf\nprint(tf.sysconfig.get_include()); print(tf.sysconfig.get_lib()); print(';'.join(f for f in tf.sysconfig.get_compile_flags() if f.startswith('-D'))); print(tf.__version__)"
    OUTPUT_VARIABLE _tf_sysconfig
    ERROR_VARIABLE _tf_sysconfig_error
    RESULT_VARIABLE _tf_sysconfig_result
    OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _tf_sysconfig_result EQUAL 0)
    message(FATAL_ERROR "hepinfer: '${HEPINFER_PYTHON} -c import tensorflow' failed:\n${_tf_sysconfig_error}")
  endif()
  string(REPLACE "\n" ";" _tf_sysconfig "${_tf_sysconfig}")
  list(GET _tf_sysconfig 0 HEPINFER_TF_INCLUDE_DIR)
  list(GET _tf_sysconfig 1 HEPINFER_TF_LIBRARY_DIR)
  list(GET _tf_sysconfig 2 _tf_defines)
  list(GET _tf_sysconfig 3 HEPINFER_TF_VERSION)
  string(REPLACE "," ";" _tf_defines "${_tf_defines}")
  if(NOT HEPINFER_TF_DEFINITIONS)
    string(REPLACE "-D" "" HEPINFER_TF_DEFINITIONS "${_tf_defines}")
  endif()
  message(STATUS "hepinfer: TensorFlow ${HEPINFER_TF_VERSION} from ${HEPINFER_PYTHON}")
endif()
if(NOT HEPINFER_TF_DEFINITIONS)
  set(HEPINFER_TF_DEFINITIONS _GLIBCXX_USE_CXX11_ABI=1 EIGEN_MAX_ALIGN_BYTES=64)
endif()

find_file(HEPINFER_TF_CC_LIBRARY libtensorflow_cc.so.2 PATHS "${HEPINFER_TF_LIBRARY_DIR}" NO_DEFAULT_PATH)
find_file(HEPINFER_TF_FRAMEWORK_LIBRARY libtensorflow_framework.so.2 PATHS "${HEPINFER_TF_LIBRARY_DIR}" NO_DEFAULT_PATH)
if(NOT HEPINFER_TF_CC_LIBRARY OR NOT HEPINFER_TF_FRAMEWORK_LIBRARY)
  message(FATAL_ERROR "hepinfer: libtensorflow_cc.so.2 / libtensorflow_framework.so.2 not found in ${HEPINFER_TF_LIBRARY_DIR}")
endif()
message(STATUS "hepinfer: TensorFlow headers ${HEPINFER_TF_INCLUDE_DIR}")
message(STATUS "hepinfer: TensorFlow libraries ${HEPINFER_TF_LIBRARY_DIR}")

add_library(hepinfer_tensorflow_runtime INTERFACE)
add_library(hepinfer::tensorflow_runtime ALIAS hepinfer_tensorflow_runtime)
# Headers and flags only for hepinfer's own build: no installed hepinfer header includes TF.
target_include_directories(hepinfer_tensorflow_runtime SYSTEM INTERFACE "$<BUILD_INTERFACE:${HEPINFER_TF_INCLUDE_DIR}>")
foreach(_tf_definition IN LISTS HEPINFER_TF_DEFINITIONS)
  target_compile_definitions(hepinfer_tensorflow_runtime INTERFACE "$<BUILD_INTERFACE:${_tf_definition}>")
endforeach()
# The wheel is built with NDEBUG, and abseil's inline hash-table code in TF's headers asserts
# invariants that only hold with the library's own configuration: code that includes TF's
# headers is compiled with NDEBUG in every build type (a Debug or sanitizer build aborted in
# absl's probe_seq otherwise, found by fuzz_model).
# NDEBUG_SANITIZER likewise keeps abseil's hash tables laid out as in the (uninstrumented)
# library when hepinfer itself is built with AddressSanitizer: without it absl adds generation
# counters to every table, and inline code then misreads the library's tables.
target_compile_definitions(hepinfer_tensorflow_runtime INTERFACE "$<BUILD_INTERFACE:NDEBUG>"
                                                                 "$<BUILD_INTERFACE:NDEBUG_SANITIZER>")
# --no-as-needed: nothing references libtensorflow_cc directly when only the loader is used, yet
# its static initialisers register the DirectSession factory; dropping it leaves
# "No session factory registered".
target_link_libraries(hepinfer_tensorflow_runtime INTERFACE
  "-Wl,--no-as-needed" "${HEPINFER_TF_CC_LIBRARY}" "${HEPINFER_TF_FRAMEWORK_LIBRARY}" "-Wl,--as-needed")
