# Locates the PJRT C API header and the PJRT CPU plugin for the XLA backend (src/xla).
#
# Default: the xla-cpu-pjrt package in the project's virtual environment (scripts/setup.sh), which
# ships both. Another installation is selected by setting HEPINFER_PJRT_INCLUDE_DIR (the folder
# holding pjrt_c_api.h) and HEPINFER_PJRT_CPU_PLUGIN (the plugin library). The header is plain C
# and the plugin is opened at run time, so nothing is linked.

set(HEPINFER_PJRT_INCLUDE_DIR "" CACHE PATH "Folder holding pjrt_c_api.h (overrides the xla-cpu-pjrt package)")
set(HEPINFER_PJRT_CPU_PLUGIN "" CACHE FILEPATH "The PJRT CPU plugin library (overrides the xla-cpu-pjrt package)")

if(NOT HEPINFER_PJRT_INCLUDE_DIR OR NOT HEPINFER_PJRT_CPU_PLUGIN)
  execute_process(
    COMMAND "${HEPINFER_PYTHON}" -c
      "import importlib.util, os\nspec = importlib.util.find_spec('xla_plugins.xla_cpu_pjrt')\nprint(os.path.dirname(spec.origin))"
    OUTPUT_VARIABLE _pjrt_package OUTPUT_STRIP_TRAILING_WHITESPACE
    ERROR_VARIABLE _pjrt_error
    RESULT_VARIABLE _pjrt_result)
  if(NOT _pjrt_result EQUAL 0 OR NOT EXISTS "${_pjrt_package}/include/pjrt_c_api.h")
    message(FATAL_ERROR
      "hepinfer: the XLA backend needs the xla-cpu-pjrt package (PJRT header and CPU plugin) in "
      "${HEPINFER_PYTHON}: run scripts/setup.sh, set HEPINFER_PJRT_INCLUDE_DIR and HEPINFER_PJRT_CPU_PLUGIN, "
      "or configure with -DHEPINFER_WITH_XLA=OFF.\n${_pjrt_error}")
  endif()
  set(HEPINFER_PJRT_INCLUDE_DIR "${_pjrt_package}/include" CACHE PATH "" FORCE)
  set(HEPINFER_PJRT_CPU_PLUGIN "${_pjrt_package}/xla_cpu_pjrt.so" CACHE FILEPATH "" FORCE)
endif()
message(STATUS "hepinfer: PJRT header ${HEPINFER_PJRT_INCLUDE_DIR}, CPU plugin ${HEPINFER_PJRT_CPU_PLUGIN}")
