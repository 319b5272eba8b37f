// Minimal PJRT C API prototype: dlopen a PJRT plugin, compile a StableHLO/HLO
// program exported from TF, run it, compare with TF's output.
//
// Build (header only, no XLA libs needed; -ldl for dlopen, -pthread harmless):
//   g++ -std=c++17 -O2 -I$TF_INC main.cpp -o pjrt_proto -ldl
//   TF_INC=/work/main/.venv/lib/python3.11/site-packages/tensorflow/include
// Run:
//   ./pjrt_proto <plugin.so> <artifacts_dir> [run [iters] | errors [n] | opts]
#include "xla/pjrt/c/pjrt_c_api.h"

#include <dirent.h>
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

const PJRT_Api* api = nullptr;

// A function pointer is usable only if it lies inside the struct_size the
// plugin reports (plugin may be older than our header) and is non-null.
#define HAS_FN(fn) \
  (offsetof(PJRT_Api, fn) + sizeof(void*) <= api->struct_size && api->fn)

// Zero-initialised args struct with struct_size from the header macro.
#define ARGS(T, var) \
  T var;             \
  std::memset(&var, 0, sizeof(var)); \
  var.struct_size = T##_STRUCT_SIZE

struct PjrtError : std::runtime_error {
  int code;
  PjrtError(int c, const std::string& m) : std::runtime_error(m), code(c) {}
};

// Converts a PJRT_Error into a C++ exception; always destroys the error.
void Check(PJRT_Error* err, const char* what) {
  if (!err) return;
  ARGS(PJRT_Error_Message_Args, m);
  m.error = err;
  api->PJRT_Error_Message(&m);
  std::string msg(m.message, m.message_size);
  ARGS(PJRT_Error_GetCode_Args, c);
  c.error = err;
  PJRT_Error* e2 = api->PJRT_Error_GetCode(&c);  // itself may fail
  int code = e2 ? -1 : static_cast<int>(c.code);
  ARGS(PJRT_Error_Destroy_Args, d);
  d.error = err;
  api->PJRT_Error_Destroy(&d);
  throw PjrtError(code, std::string(what) + ": " + msg);
}
#define CHECK_PJRT(call, what) Check(api->call, what)

int ThreadCount() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

std::string ThreadNames() {  // e.g. "pjrt_proto x1, XLAEigen x2"
  std::vector<std::string> names;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::ifstream f(std::string("/proc/self/task/") + e->d_name + "/comm");
      std::string n;
      std::getline(f, n);
      names.push_back(n);
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  std::string r;
  for (size_t i = 0; i < names.size();) {
    size_t j = i;
    while (j < names.size() && names[j] == names[i]) ++j;
    r += (r.empty() ? "" : ", ") + names[i] + " x" + std::to_string(j - i);
    i = j;
  }
  return r;
}

double NowMs() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

std::string ReadFile(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + p);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}
std::vector<float> ReadFloats(const std::string& p) {
  std::string b = ReadFile(p);
  std::vector<float> v(b.size() / sizeof(float));
  std::memcpy(v.data(), b.data(), v.size() * sizeof(float));
  return v;
}

// ---- small RAII wrappers -------------------------------------------------
void DestroyEvent(PJRT_Event* e) {
  if (!e) return;
  ARGS(PJRT_Event_Destroy_Args, a);
  a.event = e;
  Check(api->PJRT_Event_Destroy(&a), "Event_Destroy");
}
// Await + destroy; rethrows the event's error (after destroying the event).
void AwaitEvent(PJRT_Event* e, const char* what) {
  if (!e) return;
  ARGS(PJRT_Event_Await_Args, a);
  a.event = e;
  PJRT_Error* err = api->PJRT_Event_Await(&a);
  DestroyEvent(e);
  Check(err, what);
}
struct Buffer {
  PJRT_Buffer* p = nullptr;
  Buffer() = default;
  explicit Buffer(PJRT_Buffer* b) : p(b) {}
  Buffer(Buffer&& o) noexcept : p(o.p) { o.p = nullptr; }
  Buffer& operator=(Buffer&& o) noexcept { std::swap(p, o.p); return *this; }
  ~Buffer() {
    if (!p) return;
    ARGS(PJRT_Buffer_Destroy_Args, a);
    a.buffer = p;
    if (PJRT_Error* e = api->PJRT_Buffer_Destroy(&a)) try { Check(e, ""); } catch (...) {}
  }
};
struct Executable {  // PJRT_LoadedExecutable
  PJRT_LoadedExecutable* p = nullptr;
  Executable() = default;
  explicit Executable(PJRT_LoadedExecutable* e) : p(e) {}
  Executable(Executable&& o) noexcept : p(o.p) { o.p = nullptr; }
  Executable& operator=(Executable&& o) noexcept { std::swap(p, o.p); return *this; }
  ~Executable() {
    if (!p) return;
    ARGS(PJRT_LoadedExecutable_Destroy_Args, a);
    a.executable = p;
    if (PJRT_Error* e = api->PJRT_LoadedExecutable_Destroy(&a)) try { Check(e, ""); } catch (...) {}
  }
};
struct Client {
  PJRT_Client* p = nullptr;
  PJRT_Device* device = nullptr;  // first addressable device
  ~Client() {
    if (!p) return;
    ARGS(PJRT_Client_Destroy_Args, a);
    a.client = p;
    if (PJRT_Error* e = api->PJRT_Client_Destroy(&a)) try { Check(e, ""); } catch (...) {}
  }
};

// ---- plugin / client ------------------------------------------------------
void LoadPlugin(const char* path) {
  void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) throw std::runtime_error(std::string("dlopen: ") + dlerror());
  // Never dlclose: the plugin owns threads and static state.
  using GetApiFn = const PJRT_Api* (*)();
  auto get = reinterpret_cast<GetApiFn>(dlsym(h, "GetPjrtApi"));
  if (!get) throw std::runtime_error("GetPjrtApi not found");
  api = get();
  int maj = api->pjrt_api_version.major_version, min = api->pjrt_api_version.minor_version;
  std::printf("header PJRT API %d.%d (PJRT_Api_STRUCT_SIZE=%zu); plugin %d.%d (struct_size=%zu)\n",
              PJRT_API_MAJOR, PJRT_API_MINOR, (size_t)PJRT_Api_STRUCT_SIZE, maj, min,
              api->struct_size);
  if (maj != PJRT_API_MAJOR) throw std::runtime_error("PJRT major version mismatch");
  if (min < PJRT_API_MINOR)
    std::printf("  note: plugin older than header; newer fns guarded by HAS_FN\n");
  if (HAS_FN(PJRT_Plugin_Initialize)) {
    ARGS(PJRT_Plugin_Initialize_Args, a);
    CHECK_PJRT(PJRT_Plugin_Initialize(&a), "Plugin_Initialize");
  }
  if (HAS_FN(PJRT_Plugin_Attributes)) {
    ARGS(PJRT_Plugin_Attributes_Args, a);
    CHECK_PJRT(PJRT_Plugin_Attributes(&a), "Plugin_Attributes");
    for (size_t i = 0; i < a.num_attributes; ++i) {
      const PJRT_NamedValue& nv = a.attributes[i];
      std::printf("  attr %.*s = ", (int)nv.name_size, nv.name);
      switch (nv.type) {
        case PJRT_NamedValue_kString: std::printf("%.*s\n", (int)nv.value_size, nv.string_value); break;
        case PJRT_NamedValue_kInt64: std::printf("%lld\n", (long long)nv.int64_value); break;
        case PJRT_NamedValue_kInt64List:
          for (size_t j = 0; j < nv.value_size; ++j) std::printf("%lld ", (long long)nv.int64_array_value[j]);
          std::printf("\n"); break;
        case PJRT_NamedValue_kBool: std::printf("%d\n", nv.bool_value); break;
        default: std::printf("(type %d)\n", (int)nv.type);
      }
    }
  }
}

void CreateClient(Client& c, const std::vector<PJRT_NamedValue>& opts, bool verbose = true) {
  ARGS(PJRT_Client_Create_Args, a);
  a.create_options = opts.data();
  a.num_options = opts.size();
  CHECK_PJRT(PJRT_Client_Create(&a), "Client_Create");
  c.p = a.client;
  ARGS(PJRT_Client_PlatformName_Args, pn);
  pn.client = c.p;
  CHECK_PJRT(PJRT_Client_PlatformName(&pn), "PlatformName");
  ARGS(PJRT_Client_PlatformVersion_Args, pv);
  pv.client = c.p;
  CHECK_PJRT(PJRT_Client_PlatformVersion(&pv), "PlatformVersion");
  ARGS(PJRT_Client_AddressableDevices_Args, ad);
  ad.client = c.p;
  CHECK_PJRT(PJRT_Client_AddressableDevices(&ad), "AddressableDevices");
  if (verbose)
    std::printf("client: platform=%.*s version=%.*s addressable_devices=%zu\n",
                (int)pn.platform_name_size, pn.platform_name, (int)pv.platform_version_size,
                pv.platform_version, ad.num_addressable_devices);
  for (size_t i = 0; i < ad.num_addressable_devices && verbose; ++i) {
    ARGS(PJRT_Device_GetDescription_Args, gd);
    gd.device = ad.addressable_devices[i];
    CHECK_PJRT(PJRT_Device_GetDescription(&gd), "GetDescription");
    ARGS(PJRT_DeviceDescription_Kind_Args, k);
    k.device_description = gd.device_description;
    CHECK_PJRT(PJRT_DeviceDescription_Kind(&k), "Kind");
    ARGS(PJRT_DeviceDescription_DebugString_Args, ds);
    ds.device_description = gd.device_description;
    CHECK_PJRT(PJRT_DeviceDescription_DebugString(&ds), "DebugString");
    ARGS(PJRT_DeviceDescription_Id_Args, id);
    id.device_description = gd.device_description;
    CHECK_PJRT(PJRT_DeviceDescription_Id(&id), "Id");
    std::printf("  device[%zu] id=%d kind=%.*s debug=%.*s\n", i, id.id, (int)k.device_kind_size,
                k.device_kind, (int)ds.debug_string_size, ds.debug_string);
  }
  if (ad.num_addressable_devices == 0) throw std::runtime_error("no addressable devices");
  c.device = ad.addressable_devices[0];
}

PJRT_NamedValue Int64Option(const char* name, int64_t v) {
  ARGS(PJRT_NamedValue, nv);
  nv.name = name;
  nv.name_size = std::strlen(name);
  nv.type = PJRT_NamedValue_kInt64;
  nv.int64_value = v;
  nv.value_size = 1;
  return nv;
}

// xla.CompileOptionsProto{executable_build_options{num_replicas:1 num_partitions:1}}
// field 3 (LEN=4) { field 4 varint 1, field 5 varint 1 }
const std::string kCompileOptions("\x1a\x04\x20\x01\x28\x01", 6);

Executable Compile(Client& c, const std::string& code, const char* format,
                   const std::string& options = kCompileOptions) {
  ARGS(PJRT_Program, prog);
  prog.code = const_cast<char*>(code.data());  // not modified by Compile
  prog.code_size = code.size();
  prog.format = format;
  prog.format_size = std::strlen(format);
  ARGS(PJRT_Client_Compile_Args, a);
  a.client = c.p;
  a.program = &prog;
  a.compile_options = options.data();
  a.compile_options_size = options.size();
  CHECK_PJRT(PJRT_Client_Compile(&a), "Client_Compile");
  return Executable(a.executable);
}

Buffer ToDevice(Client& c, const float* data, std::vector<int64_t> dims) {
  ARGS(PJRT_Client_BufferFromHostBuffer_Args, a);
  a.client = c.p;
  a.data = data;
  a.type = PJRT_Buffer_Type_F32;
  a.dims = dims.data();
  a.num_dims = dims.size();
  a.byte_strides = nullptr;  // dense row-major
  a.host_buffer_semantics = PJRT_HostBufferSemantics_kImmutableOnlyDuringCall;
  a.device = c.device;
  CHECK_PJRT(PJRT_Client_BufferFromHostBuffer(&a), "BufferFromHostBuffer");
  Buffer b(a.buffer);
  AwaitEvent(a.done_with_host_buffer, "done_with_host_buffer");
  return b;
}

std::vector<float> ToHost(PJRT_Buffer* b) {
  ARGS(PJRT_Buffer_ToHostBuffer_Args, q);  // dst=nullptr -> query size
  q.src = b;
  CHECK_PJRT(PJRT_Buffer_ToHostBuffer(&q), "ToHostBuffer(size)");
  std::vector<float> out(q.dst_size / sizeof(float));
  ARGS(PJRT_Buffer_ToHostBuffer_Args, a);
  a.src = b;
  a.dst = out.data();
  a.dst_size = q.dst_size;
  CHECK_PJRT(PJRT_Buffer_ToHostBuffer(&a), "ToHostBuffer");
  AwaitEvent(a.event, "ToHostBuffer event");
  return out;
}

size_t NumOutputs(const Executable& e) {
  ARGS(PJRT_LoadedExecutable_GetExecutable_Args, g);
  g.loaded_executable = e.p;
  CHECK_PJRT(PJRT_LoadedExecutable_GetExecutable(&g), "GetExecutable");
  ARGS(PJRT_Executable_NumOutputs_Args, n);
  n.executable = g.executable;
  PJRT_Error* err = api->PJRT_Executable_NumOutputs(&n);
  ARGS(PJRT_Executable_Destroy_Args, d);  // GetExecutable result is owned by us
  d.executable = g.executable;
  CHECK_PJRT(PJRT_Executable_Destroy(&d), "Executable_Destroy");
  Check(err, "NumOutputs");
  return n.num_outputs;
}

// Single-device execute; returns the output buffers (caller owns them).
std::vector<Buffer> Execute(const Executable& e, const std::vector<PJRT_Buffer*>& inputs,
                            size_t num_outputs) {
  ARGS(PJRT_ExecuteOptions, opts);
  std::vector<PJRT_Buffer*> outs(num_outputs, nullptr);
  PJRT_Buffer* const* arg_lists[1] = {inputs.data()};
  PJRT_Buffer** out_lists[1] = {outs.data()};
  PJRT_Event* done[1] = {nullptr};
  ARGS(PJRT_LoadedExecutable_Execute_Args, a);
  a.executable = e.p;
  a.options = &opts;
  a.argument_lists = arg_lists;
  a.num_devices = 1;
  a.num_args = inputs.size();
  a.output_lists = out_lists;
  a.device_complete_events = done;  // optional; lets us await completion
  CHECK_PJRT(PJRT_LoadedExecutable_Execute(&a), "Execute");
  std::vector<Buffer> r;
  for (PJRT_Buffer* b : outs) r.emplace_back(b);
  AwaitEvent(done[0], "execute completion");
  return r;
}

double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, (double)std::fabs(a[i] - b[i]));
  return m;
}

struct Prog { std::string file, format; bool captured; };

// multi.stablehlo.mlir returns {"argmax": i32[4], "probs": f32[4,3]} -> two
// output buffers in sorted-key order. Checks both.
bool CheckMulti(Client& c, const std::string& dir, const std::vector<float>& x,
                const std::vector<float>& expect) {
  Executable e = Compile(c, ReadFile(dir + "/multi.stablehlo.mlir"), "mlir");
  Buffer in = ToDevice(c, x.data(), {4, 16});
  size_t nout = NumOutputs(e);
  std::vector<Buffer> out = Execute(e, {in.p}, nout);
  if (nout != 2) return false;
  ARGS(PJRT_Buffer_ElementType_Args, t0);
  t0.buffer = out[0].p;
  CHECK_PJRT(PJRT_Buffer_ElementType(&t0), "ElementType");
  ARGS(PJRT_Buffer_Dimensions_Args, d1);
  d1.buffer = out[1].p;
  CHECK_PJRT(PJRT_Buffer_Dimensions(&d1), "Dimensions");
  std::vector<float> a = ToHost(out[0].p), p = ToHost(out[1].p);  // int32 bits in a
  bool ok = t0.type == PJRT_Buffer_Type_S32 && d1.num_dims == 2 && MaxAbsDiff(p, expect) < 1e-5;
  for (int r = 0; r < 4 && ok; ++r) {
    int32_t am;
    std::memcpy(&am, &a[r], 4);
    ok = std::max_element(&expect[3 * r], &expect[3 * r + 3]) - &expect[3 * r] == am;
  }
  std::printf("[%s] multi.stablehlo.mlir outputs=%zu out0 type=%d (S32=%d) out1 dims=%zux.. \n",
              ok ? "PASS" : "FAIL", nout, (int)t0.type, (int)PJRT_Buffer_Type_S32, d1.num_dims);
  return ok;
}

int RunMain(const std::string& dir, int iters) {
  std::printf("threads after plugin load+init: %d\n", ThreadCount());
  Client c;
  std::vector<PJRT_NamedValue> opts = {Int64Option("cpu_device_count", 1)};
  double t0 = NowMs();
  CreateClient(c, opts);
  std::printf("client create: %.1f ms; threads after client create: %d [%s]\n", NowMs() - t0,
              ThreadCount(), ThreadNames().c_str());

  std::vector<float> x = ReadFloats(dir + "/x.bin"), expect = ReadFloats(dir + "/expected.bin");
  std::vector<Prog> progs = {{"frozen.stablehlo.mlir", "mlir", false},
                             {"frozen.stablehlo.mlirbc", "mlir", false},
                             {"frozen.hlo.pb", "hlo", false},
                             {"captured.stablehlo.mlir", "mlir", true}};
  if (DIR* d = opendir(dir.c_str())) {  // portable artifacts, any version
    while (dirent* e = readdir(d))
      if (std::strncmp(e->d_name, "frozen.portable.", 16) == 0) progs.push_back({e->d_name, "mlir", false});
    closedir(d);
  }
  int failures = 0;
  Executable main_exe;
  for (const Prog& p : progs) {
    try {
      std::string code = ReadFile(dir + "/" + p.file);
      double tc = NowMs();
      Executable e = Compile(c, code, p.format.c_str());
      tc = NowMs() - tc;
      std::vector<Buffer> keep;  // input buffers
      std::vector<PJRT_Buffer*> in;
      keep.push_back(ToDevice(c, x.data(), {4, 16}));
      if (p.captured) {  // extra params = captured variables, in captured_inputs order
        const std::vector<std::vector<int64_t>> shapes = {{16, 64}, {64}, {64, 3}, {3}};
        for (size_t i = 0; i < shapes.size(); ++i) {
          std::vector<float> w = ReadFloats(dir + "/captured.param" + std::to_string(i + 1) + ".bin");
          keep.push_back(ToDevice(c, w.data(), shapes[i]));
        }
      }
      for (auto& b : keep) in.push_back(b.p);
      size_t nout = NumOutputs(e);
      std::vector<Buffer> out = Execute(e, in, nout);
      double diff = MaxAbsDiff(ToHost(out[0].p), expect);
      bool ok = diff < 1e-5;
      failures += !ok;
      std::printf("[%s] %-32s format=%-4s compile=%7.1f ms outputs=%zu max|diff|=%.3g\n",
                  ok ? "PASS" : "FAIL", p.file.c_str(), p.format.c_str(), tc, nout, diff);
      if (p.file == "frozen.stablehlo.mlir") main_exe = std::move(e);
    } catch (const PjrtError& e) {
      ++failures;
      std::printf("[FAIL] %s: code=%d %s\n", p.file.c_str(), e.code, e.what());
    }
  }
  try {
    failures += !CheckMulti(c, dir, x, expect);
  } catch (const PjrtError& e) {
    ++failures;
    std::printf("[FAIL] multi: code=%d %s\n", e.code, e.what());
  }
  if (!main_exe.p) return 1;
  std::printf("threads after compiles + first executes: %d\n", ThreadCount());

  // ---- timing: full round trip (H2D + execute + D2H), and execute only.
  std::vector<double> rt, ex;
  Buffer resident = ToDevice(c, x.data(), {4, 16});
  for (int i = 0; i < 50; ++i) Execute(main_exe, {resident.p}, 1);  // warm-up
  for (int i = 0; i < iters; ++i) {  // H2D + execute + D2H + buffer destroys
    double t = NowMs();
    Buffer in = ToDevice(c, x.data(), {4, 16});
    std::vector<Buffer> out = Execute(main_exe, {in.p}, 1);
    std::vector<float> y = ToHost(out[0].p);
    out.clear();
    in = Buffer();
    rt.push_back(NowMs() - t);
    if (i == iters - 1 && MaxAbsDiff(y, expect) >= 1e-5) ++failures;
  }
  for (int i = 0; i < iters; ++i) {  // execute only (input already on device)
    double t = NowMs();
    std::vector<Buffer> out = Execute(main_exe, {resident.p}, 1);
    out.clear();
    ex.push_back(NowMs() - t);
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  auto p90 = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() * 9 / 10];
  };
  auto vmin = [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); };
  std::printf("timing, %d iters each (us): round-trip median %.1f p90 %.1f min %.1f | "
              "execute-only median %.1f p90 %.1f min %.1f\n",
              iters, 1e3 * median(rt), 1e3 * p90(rt), 1e3 * vmin(rt), 1e3 * median(ex),
              1e3 * p90(ex), 1e3 * vmin(ex));
  std::printf("threads after %d executes: %d\n", iters, ThreadCount());

  // ---- serialize / deserialize
  try {
    ARGS(PJRT_LoadedExecutable_GetExecutable_Args, g);
    g.loaded_executable = main_exe.p;
    CHECK_PJRT(PJRT_LoadedExecutable_GetExecutable(&g), "GetExecutable");
    ARGS(PJRT_Executable_Serialize_Args, s);
    s.executable = g.executable;
    PJRT_Error* err = api->PJRT_Executable_Serialize(&s);
    ARGS(PJRT_Executable_Destroy_Args, d);
    d.executable = g.executable;
    CHECK_PJRT(PJRT_Executable_Destroy(&d), "Executable_Destroy");
    Check(err, "Executable_Serialize");
    std::string blob(s.serialized_bytes, s.serialized_bytes_size);
    s.serialized_executable_deleter(s.serialized_executable);  // frees serialized_bytes
    std::printf("serialized executable: %zu bytes\n", blob.size());
    ARGS(PJRT_Executable_DeserializeAndLoad_Args, l);
    l.client = c.p;
    l.serialized_executable = blob.data();
    l.serialized_executable_size = blob.size();
    double t = NowMs();
    CHECK_PJRT(PJRT_Executable_DeserializeAndLoad(&l), "DeserializeAndLoad");
    t = NowMs() - t;
    Executable e2(l.loaded_executable);
    std::vector<Buffer> out = Execute(e2, {resident.p}, 1);
    double diff = MaxAbsDiff(ToHost(out[0].p), expect);
    std::printf("[%s] deserialized executable: load %.1f ms, max|diff|=%.3g\n",
                diff < 1e-5 ? "PASS" : "FAIL", t, diff);
    failures += diff >= 1e-5;
  } catch (const PjrtError& e) {
    std::printf("[FAIL] serialize/deserialize: code=%d %s\n", e.code, e.what());
    ++failures;
  }
  std::printf("threads before client destroy: %d [%s]\n", ThreadCount(), ThreadNames().c_str());
  return failures ? 1 : 0;
}

// Error-path experiments, one per process (`errors <n>`), because some abort.
int RunErrors(const std::string& dir, int which) {
  Client c;
  CreateClient(c, {Int64Option("cpu_device_count", 1)}, false);
  std::string good = ReadFile(dir + "/frozen.stablehlo.mlir");
  std::vector<float> x = ReadFloats(dir + "/x.bin");
  Executable e;
  auto exe = [&]() -> Executable& {
    if (!e.p) e = Compile(c, good, "mlir");
    return e;
  };
  std::vector<std::pair<const char*, std::function<void()>>> tests = {
      {"compile truncated StableHLO text",
       [&] { Compile(c, good.substr(0, good.size() / 2), "mlir"); }},
      {"compile garbage bytes as format=hlo", [&] { Compile(c, "not a proto \xff\xff", "hlo"); }},
      {"compile StableHLO text as format=hlo", [&] { Compile(c, good, "hlo"); }},
      {"compile unknown format 'foo'", [&] { Compile(c, good, "foo"); }},
      {"compile with garbage compile options", [&] { Compile(c, good, "mlir", "\xff\xff\xff"); }},
      {"compile with empty compile options", [&] { Compile(c, good, "mlir", std::string()); }},
      {"execute with wrong input shape [4,8]",
       [&] {
         Buffer in = ToDevice(c, x.data(), {4, 8});
         Execute(exe(), {in.p}, 1);
       }},
      {"execute with wrong dtype (S32 [4,16])",
       [&] {
         ARGS(PJRT_Client_BufferFromHostBuffer_Args, a);
         int64_t dims[2] = {4, 16};
         a.client = c.p; a.data = x.data(); a.type = PJRT_Buffer_Type_S32;
         a.dims = dims; a.num_dims = 2; a.device = c.device;
         a.host_buffer_semantics = PJRT_HostBufferSemantics_kImmutableOnlyDuringCall;
         CHECK_PJRT(PJRT_Client_BufferFromHostBuffer(&a), "BufferFromHostBuffer");
         Buffer in(a.buffer);
         AwaitEvent(a.done_with_host_buffer, "h2d");
         Execute(exe(), {in.p}, 1);
       }},
      {"execute with 0 args (expects 1)", [&] { Execute(exe(), {}, 1); }},
      {"execute with 2 args (expects 1)",
       [&] {
         Buffer a = ToDevice(c, x.data(), {4, 16}), b = ToDevice(c, x.data(), {4, 16});
         Execute(exe(), {a.p, b.p}, 1);
       }},
      {"ToHostBuffer with too small dst_size",
       [&] {
         Buffer in = ToDevice(c, x.data(), {4, 16});
         std::vector<Buffer> out = Execute(exe(), {in.p}, 1);
         float small[2];
         ARGS(PJRT_Buffer_ToHostBuffer_Args, a);
         a.src = out[0].p;
         a.dst = small;
         a.dst_size = sizeof(small);
         CHECK_PJRT(PJRT_Buffer_ToHostBuffer(&a), "ToHostBuffer");
         AwaitEvent(a.event, "ToHostBuffer event");
       }},
      {"DeserializeAndLoad of garbage bytes",
       [&] {
         ARGS(PJRT_Executable_DeserializeAndLoad_Args, l);
         std::string junk = "junkjunkjunk";
         l.client = c.p; l.serialized_executable = junk.data(); l.serialized_executable_size = junk.size();
         CHECK_PJRT(PJRT_Executable_DeserializeAndLoad(&l), "DeserializeAndLoad");
         Executable tmp(l.loaded_executable);
       }},
  };
  if (which < 0 || which >= (int)tests.size()) {
    std::printf("NUM_TESTS %zu\n", tests.size());
    return 0;
  }
  std::printf("TEST %d %-40s ", which, tests[which].first);
  std::fflush(stdout);
  try {
    tests[which].second();
    std::printf("-> no error\n");
  } catch (const PjrtError& err) {
    std::string m = err.what();
    std::replace(m.begin(), m.end(), '\n', ' ');
    std::printf("-> PJRT_Error code=%d msg=%.240s\n", err.code, m.c_str());
  }
  std::fflush(stdout);
  return 0;
}

// Client create option experiments.
int RunOpts() {
  auto tryopts = [](const char* name, std::vector<PJRT_NamedValue> o) {
    std::printf("CLIENT %-36s ", name);
    std::fflush(stdout);
    try {
      Client c;
      CreateClient(c, o, false);
      ARGS(PJRT_Client_AddressableDevices_Args, ad);
      ad.client = c.p;
      CHECK_PJRT(PJRT_Client_AddressableDevices(&ad), "AddressableDevices");
      std::printf("-> ok, %zu devices, threads now %d\n", ad.num_addressable_devices, ThreadCount());
    } catch (const PjrtError& e) {
      std::printf("-> PJRT_Error code=%d %.200s\n", e.code, e.what());
    }
    std::printf("  threads after destroy: %d\n", ThreadCount());
  };
  tryopts("(no options)", {});
  tryopts("cpu_device_count=1", {Int64Option("cpu_device_count", 1)});
  tryopts("cpu_device_count=4", {Int64Option("cpu_device_count", 4)});
  tryopts("unknown option bogus_option=1", {Int64Option("bogus_option", 1)});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s <plugin.so> <artifacts_dir> [run|errors|opts] [iters]\n", argv[0]);
    return 2;
  }
  std::string mode = argc > 3 ? argv[3] : "run";
  int iters = argc > 4 ? std::atoi(argv[4]) : 1000;
  try {
    std::printf("threads at start: %d\n", ThreadCount());
    LoadPlugin(argv[1]);
    if (mode == "errors") return RunErrors(argv[2], argc > 4 ? std::atoi(argv[4]) : -1);
    if (mode == "opts") return RunOpts();
    return RunMain(argv[2], iters);
  } catch (const PjrtError& e) {
    std::fprintf(stderr, "PJRT error code=%d: %s\n", e.code, e.what());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
  }
  return 1;
}
