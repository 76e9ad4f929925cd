//===- Runner.cpp - JIT-compile and run a model on the host CPU -----------===//

#include "onebit/Runner/Runner.h"
#include "onebit/Pipelines/Pipelines.h"
#include "onebit/Runner/Lowering.h"
#include "onebit/Runtime/Allocator.h"
#include "onebit/Runtime/CpuKernels.h"
#include "onebit/Runtime/DenseMatmul.h"
#include "onebit/Runtime/GradReady.h"
#include "onebit/Support/DiagnosticCapture.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <chrono>
#include <memory>

using namespace mlir;

namespace onebit {

static CudaRuntimeHooks &cudaRuntime() {
  static CudaRuntimeHooks hooks;
  return hooks;
}

CompiledModel::CompiledModel(Target target)
    : Executable(target == Target::Cuda ? cudaRuntime().freeBuffer
                                        : &_mlir_memref_to_llvm_free),
      target_(target) {}

CompiledModel::~CompiledModel() = default;

DeviceConstants CompiledModel::deviceConstants() const {
  DeviceConstants c;
  if (!engine_ || target_ == Target::Cpu)
    return c;
  auto read = [&](const char *name, int64_t &value) {
    auto addr = engine_->lookup(name);
    if (!addr) {
      // A model with no constant for kernels has no counters.
      llvm::consumeError(addr.takeError());
      return;
    }
    value = *static_cast<const int64_t *>(*addr);
  };
  read("onebit_gpu_uploads", c.uploads);
  read("onebit_gpu_upload_bytes", c.uploadBytes);
  read("onebit_gpu_resident_bytes", c.residentBytes);
  return c;
}

void *CompiledModel::allocateState(size_t bytes, std::string &error) {
  if (target_ != Target::Cuda)
    return Executable::allocateState(bytes, error);
  if (!cudaRuntime().allocDevice) {
    error = "this program's CUDA runtime cannot allocate device memory";
    return nullptr;
  }
  char why[512] = {0};
  void *p = cudaRuntime().allocDevice(bytes, why, sizeof(why));
  if (!p)
    error = why;
  return p;
}

void CompiledModel::freeState(void *state) {
  if (target_ != Target::Cuda)
    return Executable::freeState(state);
  cudaRuntime().freeDevice(state);
}

/// Copies between host memory and the device state of a Target::Cuda model.
static bool copyState(void *dst, const void *src, size_t bytes,
                      std::string &error) {
  if (!cudaRuntime().copy) {
    error = "this program's CUDA runtime cannot copy device memory";
    return false;
  }
  char why[512] = {0};
  if (cudaRuntime().copy(dst, src, bytes, why, sizeof(why)) == 0)
    return true;
  error = why;
  return false;
}

bool CompiledModel::writeState(void *state, const void *src, size_t bytes,
                               std::string &error) {
  if (target_ != Target::Cuda)
    return Executable::writeState(state, src, bytes, error);
  return copyState(state, src, bytes, error);
}

bool CompiledModel::readState(const void *state, void *dst, size_t bytes,
                              std::string &error) {
  if (target_ != Target::Cuda)
    return Executable::readState(state, dst, bytes, error);
  return copyState(dst, state, bytes, error);
}

void setNumThreads(int n) { onebit_runtime_set_num_threads(n); }

bool setKernelMode(const std::string &mode, std::string &error) {
  const int m = onebit_runtime_kernel_mode_from_name(mode.c_str());
  if (m < 0) {
    error = "kernel mode must be 'int16', 'exact' or 'fast', not '" + mode +
            "'";
    return false;
  }
  onebit_runtime_set_kernel_mode(m);
  return true;
}

bool hasFastKernel() { return onebit_runtime_has_fast_kernel() != 0; }


const char *targetName(Target target) {
  switch (target) {
  case Target::Cpu:
    return "cpu";
  case Target::GpuEmulation:
    return "gpu-emulation";
  case Target::Cuda:
    return "cuda";
  }
  return "?";
}

bool parseTarget(const std::string &device, Target &target) {
  for (Target t : {Target::Cpu, Target::GpuEmulation, Target::Cuda})
    if (device == targetName(t)) {
      target = t;
      return true;
    }
  return false;
}

void registerCudaRuntime(const CudaRuntimeHooks &hooks) {
  cudaRuntime() = hooks;
}

std::unique_ptr<CompiledModel>
CompiledModel::compile(OwningOpRef<ModuleOp> module, const std::string &entry,
                       std::string &error, Target target,
                       const CompileOptions &options) {
  // The entry: named, or the module's only public function with a body.
  std::vector<std::string> publics;
  for (auto f : module->getOps<func::FuncOp>())
    if (!f.isDeclaration() && f.isPublic())
      publics.push_back(f.getName().str());
  if (entry.empty() && publics.size() != 1) {
    error = "the module has " + std::to_string(publics.size()) +
            " public functions; pick one with --entry (";
    for (size_t i = 0; i < publics.size(); ++i)
      error += (i ? ", " : "") + publics[i];
    error += ")";
    return nullptr;
  }
  return compile(std::move(module),
                 std::vector<std::string>{entry.empty() ? publics[0] : entry},
                 error, target, options);
}

/// Appends "ADDRESS SIZE NAME" lines for the JIT-compiled functions to
/// /tmp/perf-PID.map, perf's format for symbols of generated code. Sizes are
/// the distance to the next function (the JIT lays them out contiguously).
static void writePerfMap(ExecutionEngine &engine,
                         const std::vector<std::string> &names) {
  std::vector<std::pair<uint64_t, std::string>> syms;
  for (const std::string &n : names) {
    auto addr = engine.lookup(n);
    if (addr)
      syms.emplace_back(reinterpret_cast<uint64_t>(*addr), n);
    else
      llvm::consumeError(addr.takeError());
  }
  std::sort(syms.begin(), syms.end());
  std::string path = "/tmp/perf-" + std::to_string(::getpid()) + ".map";
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec, llvm::sys::fs::OF_Append);
  if (ec)
    return;
  for (size_t i = 0; i < syms.size(); ++i) {
    uint64_t size = i + 1 < syms.size() ? syms[i + 1].first - syms[i].first
                                        : 4096;
    os << llvm::format_hex_no_prefix(syms[i].first, 1) << " "
       << llvm::format_hex_no_prefix(size, 1) << " " << syms[i].second
       << "\n";
  }
}

/// Constants of at least this many bytes are shared, not copied
/// (CompileOptions::shareConstants).
static constexpr size_t kMinSharedConstantBytes = 64 * 1024;

/// Turns every large constant llvm.mlir.global whose value is a
/// dense_resource blob into an external declaration, and returns the
/// addresses to bind them to: the blobs' own data. Each blob is moved into
/// a shared owner that `owners` and the context's entry both hold, so the
/// data lives as long as the compiled code or the context needs it.
static std::vector<std::pair<std::string, const void *>>
shareConstants(ModuleOp module, std::vector<std::shared_ptr<void>> &owners) {
  std::vector<std::pair<std::string, const void *>> bound;
  llvm::DenseMap<void *, const void *> done; // blob entry -> data
  module.walk([&](LLVM::GlobalOp g) {
    if (!g.getConstant())
      return;
    auto attr = dyn_cast_or_null<DenseResourceElementsAttr>(g.getValueAttr());
    if (!attr)
      return;
    DenseResourceElementsHandle handle = attr.getRawHandle();
    auto *entry = handle.getResource();
    AsmResourceBlob *blob = entry ? entry->getBlob() : nullptr;
    if (!blob || blob->getData().size() < kMinSharedConstantBytes)
      return;
    auto it = done.find(entry);
    if (it == done.end()) {
      auto owner = std::make_shared<AsmResourceBlob>(std::move(*blob));
      ArrayRef<char> data = owner->getData();
      entry->setBlob(AsmResourceBlob(
          data, owner->getDataAlignment(),
          [owner](void *, size_t, size_t) mutable { owner.reset(); },
          owner->isMutable()));
      owners.push_back(owner);
      it = done.insert({entry, data.data()}).first;
    }
    bound.emplace_back(g.getSymName().str(), it->second);
    // A declaration: the linker binds it to the blob's data. No alignment
    // is promised beyond the element type's.
    g.getProperties().value = Attribute();
    g.getProperties().alignment = IntegerAttr();
    g.getProperties().unnamed_addr = LLVM::UnnamedAddrAttr();
    g.getProperties().dso_local = UnitAttr();
    g.setLinkage(LLVM::Linkage::External);
  });
  return bound;
}

/// Binds the kernel library's and the CUDA runtime's entry points in the
/// JIT explicitly: when this library is itself dlopen'ed with RTLD_LOCAL
/// (the Python extension), the process-wide symbol search cannot see them.
static void bindRuntimeSymbols(ExecutionEngine &engine) {
  engine.registerSymbols([](llvm::orc::MangleAndInterner interner) {
    const std::pair<const char *, void *> runtime[] = {
        {"_mlir_ciface_onebit_binary_linear_f32",
         reinterpret_cast<void *>(&_mlir_ciface_onebit_binary_linear_f32)},
        {"_mlir_ciface_onebit_int8_linear_f32",
         reinterpret_cast<void *>(&_mlir_ciface_onebit_int8_linear_f32)},
        {"_mlir_ciface_onebit_matmul_f32",
         reinterpret_cast<void *>(&_mlir_ciface_onebit_matmul_f32)},
        {"_mlir_ciface_onebit_matmul_f32_f16b",
         reinterpret_cast<void *>(&_mlir_ciface_onebit_matmul_f32_f16b)},
        {"_mlir_ciface_onebit_sign_matmul_f32",
         reinterpret_cast<void *>(&_mlir_ciface_onebit_sign_matmul_f32)},
        {"onebit_runtime_grad_ready",
         reinterpret_cast<void *>(&onebit_runtime_grad_ready)},
        {"_mlir_memref_to_llvm_alloc",
         reinterpret_cast<void *>(&_mlir_memref_to_llvm_alloc)},
        {"_mlir_memref_to_llvm_aligned_alloc",
         reinterpret_cast<void *>(&_mlir_memref_to_llvm_aligned_alloc)},
        {"_mlir_memref_to_llvm_free",
         reinterpret_cast<void *>(&_mlir_memref_to_llvm_free)},
    };
    llvm::orc::SymbolMap map;
    auto bind = [&](llvm::StringRef name, void *fn) {
      map[interner(name)] = {llvm::orc::ExecutorAddr::fromPtr(fn),
                             llvm::JITSymbolFlags::Exported};
    };
    for (const auto &[name, fn] : runtime)
      bind(name, fn);
    for (const auto &[name, fn] : cudaRuntime().symbols)
      bind(name, fn);
    return map;
  });
}

std::unique_ptr<CompiledModel> CompiledModel::compile(
    OwningOpRef<ModuleOp> module, const std::vector<std::string> &entries,
    std::string &error, Target target, const CompileOptions &options) {
  MLIRContext *ctx = module->getContext();
  DiagnosticCapture diags(*ctx);
  if (target == Target::Cuda && !cudaRuntime().freeBuffer) {
    error = "this program has no CUDA runtime (registerCudaRuntime)";
    return nullptr;
  }
  std::unique_ptr<CompiledModel> cm(new CompiledModel(target));
  if (!describeEntries(*module, entries, cm->entries_, error))
    return nullptr;

  eraseNonEntries(*module, entries);

  auto t0 = std::chrono::steady_clock::now();
  if (!lowerForTarget(*module, target, options, diags, error))
    return nullptr;
  readArgTables(*module, cm->entries_);
  if (target == Target::Cuda)
    module->walk([&](gpu::BinaryOp) { ++cm->gpuKernels_; });
  auto phase = [&](const char *name) {
    if (options.onPhase)
      options.onPhase(name);
  };
  std::vector<std::pair<std::string, const void *>> sharedSymbols;
  if (target == Target::Cpu && options.shareConstants)
    sharedSymbols = shareConstants(*module, cm->sharedConstants_);
  phase("lowered");

  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  auto tmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!tmb) {
    error = "cannot target the host: " + llvm::toString(tmb.takeError());
    return nullptr;
  }
  const unsigned optLevel = std::min(options.jitOptLevel, 3u);
  const llvm::CodeGenOptLevel cgLevel = codeGenOptLevel(optLevel);
  tmb->setCodeGenOptLevel(cgLevel);
  auto tm = tmb->createTargetMachine();
  if (!tm) {
    error = "cannot target the host: " + llvm::toString(tm.takeError());
    return nullptr;
  }
  const bool perfMap = options.perfMap;
  auto perfNames = std::make_shared<std::vector<std::string>>();
  std::function<llvm::Error(llvm::Module *)> transformer =
      makeJitTransformer(tm->get(), optLevel, options, perfNames);
  if (options.onPhase)
    transformer = [optimize = std::move(transformer),
                   report = options.onPhase](llvm::Module *m) -> llvm::Error {
      report("translated to LLVM IR");
#if defined(__GLIBC__)
      // What the caller released once the MLIR module was translated goes
      // back to the system before code generation allocates again.
      malloc_trim(0);
#endif
      llvm::Error e = optimize(m);
      report("LLVM IR optimised");
      return e;
    };
  ExecutionEngineOptions opts;
  opts.transformer = transformer;
  opts.jitCodeGenOptLevel = cgLevel;
  // The GDB listener keeps a copy of the whole object file (every constant
  // included) for as long as the JIT lives, and the perf listener is not
  // how this runner names code for perf (options.perfMap): neither is
  // registered.
  opts.enableGDBNotificationListener = false;
  opts.enablePerfNotificationListener = false;
  // memref.copy of strided buffers calls memrefCopy from MLIR's runner utils.
  llvm::StringRef libs[] = {ONEBIT_MLIR_C_RUNNER_UTILS};
  opts.sharedLibPaths = libs;
  auto engine = ExecutionEngine::create(*module, opts, std::move(*tm));
  if (!engine) {
    error = "JIT compilation failed: " + llvm::toString(engine.takeError()) +
            (diags.empty() ? "" : "\n" + diags.text());
    return nullptr;
  }
  cm->engine_ = std::move(*engine);
  bindRuntimeSymbols(*cm->engine_);
  if (!sharedSymbols.empty())
    cm->engine_->registerSymbols(
        [&sharedSymbols](llvm::orc::MangleAndInterner interner) {
          llvm::orc::SymbolMap map;
          for (const auto &[name, data] : sharedSymbols)
            map[interner(name)] = {llvm::orc::ExecutorAddr::fromPtr(data),
                                   llvm::JITSymbolFlags::Exported};
          return map;
        });
  // The JIT generates machine code lazily, on the first lookup: do it now so
  // that compile time is reported as such and a failure surfaces here.
  for (const Entry &e : cm->entries_) {
    auto fn = cm->engine_->lookupPacked(e.name);
    if (!fn) {
      error = "JIT compilation of '" + e.name +
              "' failed: " + llvm::toString(fn.takeError());
      return nullptr;
    }
    cm->packed_.push_back(*fn);
  }
  phase("machine code linked");
  // Static constructors: for the GPU, they load the kernels' PTX
  // (mgpuModuleLoad), so the driver and the GPU must be there now.
  if (target == Target::Cuda) {
    char why[256] = {0};
    if (cudaRuntime().probe(why, sizeof(why)) != 0) {
      error = std::string("no CUDA driver/GPU found (") + why +
              "); the model was compiled for the GPU (" +
              std::to_string(cm->gpuKernels_) + " kernels)";
      return nullptr;
    }
  }
  cm->engine_->initialize();
  if (perfMap)
    writePerfMap(*cm->engine_, *perfNames);
  // The compile's LLVM module and object file are gone: hand the heap they
  // took back to the system.
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
  phase("memory released");
  cm->compileMs_ = std::chrono::duration<double, std::milli>(
                       std::chrono::steady_clock::now() - t0)
                       .count();
  return cm;
}

} // namespace onebit
