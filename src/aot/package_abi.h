/* The C interface between an AOT package's library and hepinfer's AOT backend.
 *
 * tools/compile_aot.py generates the library's side (a wrapper around the classes XLA's
 * ahead-of-time compiler writes, one per batch size); src/aot/package_library.cpp binds it. Plain C
 * so that a package built by one compiler or standard library loads into a process built by
 * another: nothing but ints, pointers and C strings crosses it, and no exception.
 *
 * The library exports one function, HEPINFER_AOT_ENTRY, returning a table that lives as long as
 * the library. A change to this table is a new HEPINFER_AOT_ABI_VERSION (and entry name).
 */
#ifndef HEPINFER_AOT_PACKAGE_ABI_H_
#define HEPINFER_AOT_PACKAGE_ABI_H_

#include <stdint.h>

#define HEPINFER_AOT_ABI_VERSION 1
#define HEPINFER_AOT_ENTRY "hepinfer_aot_package_v1"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct HepinferAotPackage {
  int32_t abi_version; /* HEPINFER_AOT_ABI_VERSION */
  /* The package's identity and interface as JSON: {"package_id", "batch_sizes", "inputs",
   * "outputs", "cpu_features"}; the backend checks that the manifest says the same. */
  const char* description;
  int32_t batch_count;
  const int64_t* batch_sizes; /* increasing */
  int32_t num_inputs;
  int32_t num_outputs;
  /* A compiled function for batch_sizes[batch_index] with its own result and scratch buffers;
   * NULL if they cannot be allocated. One caller at a time per function. */
  void* (*create)(int32_t batch_index);
  void (*destroy)(void* function);
  /* Bytes of `function`'s input or output `index`; -1 for an index out of range. */
  int64_t (*input_bytes)(const void* function, int32_t index);
  int64_t (*output_bytes)(const void* function, int32_t index);
  /* Points input `index` at `data` (input_bytes long, aligned to 64 bytes) for the next run. */
  void (*set_input)(void* function, int32_t index, const void* data);
  /* Runs on the calling thread; 1 on success, else 0 and error() says why. */
  int32_t (*run)(void* function);
  const char* (*error)(void* function); /* valid until the next run */
  const void* (*output)(void* function, int32_t index); /* after a successful run */
} HepinferAotPackage;

typedef const HepinferAotPackage* (*HepinferAotEntry)(void);

#ifdef __cplusplus
}
#endif

#endif /* HEPINFER_AOT_PACKAGE_ABI_H_ */
