# `cmake --install`: headers, the static libraries, the CLI and a CMake package
# (find_package(hepinfer), target hepinfer::hepinfer).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

add_library(hepinfer_library INTERFACE)
set_target_properties(hepinfer_library PROPERTIES EXPORT_NAME hepinfer)
target_link_libraries(hepinfer_library INTERFACE hepinfer_core hepinfer_scheduler hepinfer_batching)
# The library only: the demo job (apps/job) and its YAML/JSON dependencies are not part of it.
set(_hepinfer_exported hepinfer_core hepinfer_scheduler hepinfer_batching hepinfer_library)
if(HEPINFER_WITH_XLA)
  target_link_libraries(hepinfer_library INTERFACE hepinfer_xla)
  set_target_properties(hepinfer_xla PROPERTIES EXPORT_NAME xla)
  list(APPEND _hepinfer_exported hepinfer_xla)
endif()
if(HEPINFER_WITH_AOT)
  target_link_libraries(hepinfer_library INTERFACE hepinfer_aot)
  set_target_properties(hepinfer_aot PROPERTIES EXPORT_NAME aot)
  list(APPEND _hepinfer_exported hepinfer_aot)
endif()
if(HEPINFER_WITH_REMOTE)
  # Its link dependencies: Threads and its TLS library (a shared library holding its own OpenSSL,
  # src/remote/tls); Boost.Beast is header-only, used inside.
  target_link_libraries(hepinfer_library INTERFACE hepinfer_remote)
  set_target_properties(hepinfer_remote PROPERTIES EXPORT_NAME remote)
  set_target_properties(hepinfer_tls PROPERTIES EXPORT_NAME tls)
  list(APPEND _hepinfer_exported hepinfer_remote hepinfer_tls)
endif()
set_target_properties(hepinfer_core PROPERTIES EXPORT_NAME core)
set_target_properties(hepinfer_scheduler PROPERTIES EXPORT_NAME scheduler)
set_target_properties(hepinfer_batching PROPERTIES EXPORT_NAME batching)
if(HEPINFER_WITH_TENSORFLOW)
  target_link_libraries(hepinfer_library INTERFACE hepinfer_tensorflow)
  set_target_properties(hepinfer_tensorflow PROPERTIES EXPORT_NAME tensorflow)
  set_target_properties(hepinfer_tensorflow_runtime PROPERTIES EXPORT_NAME tensorflow_runtime)
  list(APPEND _hepinfer_exported hepinfer_tensorflow hepinfer_tensorflow_runtime)
endif()
# The installed CLI finds hepinfer's own shared library (TLS) next to it, and TensorFlow's
# libraries where they were at build time.
set(_hepinfer_cli_rpath "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")
if(HEPINFER_WITH_TENSORFLOW)
  list(APPEND _hepinfer_cli_rpath "${HEPINFER_TF_LIBRARY_DIR}")
endif()
set_target_properties(hepinfer PROPERTIES INSTALL_RPATH "${_hepinfer_cli_rpath}")

install(TARGETS ${_hepinfer_exported} EXPORT hepinferTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS hepinfer RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES tools/compile_xla.py tools/compile_aot.py tools/model_source.py tools/staged_output.py tools/tf1_control_flow.py
              tools/aot_runtime.py tools/aot_constants.py
              tools/aot_tuning.py tools/host_memory_programs.py
              src/aot/package_abi.h
              ${HEPINFER_AOT_RUNTIME_FILES}
        DESTINATION ${CMAKE_INSTALL_DATADIR}/hepinfer)
# The demo job's models, where the installed `hepinfer run` looks for them (when they were built).
if(HEPINFER_WITH_TENSORFLOW)
  install(DIRECTORY "${HEPINFER_DEMO_MODELS_DIR}/" DESTINATION ${CMAKE_INSTALL_DATADIR}/hepinfer/demo_models OPTIONAL)
endif()
install(DIRECTORY include/hepinfer DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# A backend left out of the build leaves its headers out of the installation.
set(_hepinfer_left_out)
if(NOT HEPINFER_WITH_TENSORFLOW)
  list(APPEND _hepinfer_left_out tensorflow)
endif()
if(NOT HEPINFER_WITH_XLA)
  list(APPEND _hepinfer_left_out xla)
endif()
if(NOT HEPINFER_WITH_AOT)
  list(APPEND _hepinfer_left_out aot)
endif()
if(NOT HEPINFER_WITH_REMOTE)
  list(APPEND _hepinfer_left_out remote)
endif()
foreach(_backend IN LISTS _hepinfer_left_out)
  install(CODE "file(REMOVE_RECURSE \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_INCLUDEDIR}/hepinfer/${_backend}\")")
endforeach()

set(_hepinfer_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/hepinfer)
install(EXPORT hepinferTargets NAMESPACE hepinfer:: DESTINATION ${_hepinfer_cmake_dir})
configure_package_config_file(cmake/hepinferConfig.cmake.in "${PROJECT_BINARY_DIR}/hepinferConfig.cmake"
                              INSTALL_DESTINATION ${_hepinfer_cmake_dir})
write_basic_package_version_file("${PROJECT_BINARY_DIR}/hepinferConfigVersion.cmake"
                                 COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/hepinferConfig.cmake" "${PROJECT_BINARY_DIR}/hepinferConfigVersion.cmake"
        DESTINATION ${_hepinfer_cmake_dir})
