//===- Runner.cpp - JIT-compile and run a model on the host CPU -----------===//

#include "onebit/Runner/Runner.h"
#include "onebit/Pipelines/Pipelines.h"
#include "onebit/Runtime/Allocator.h"
#include "onebit/Runtime/CpuKernels.h"
#include "onebit/Runtime/DenseMatmul.h"
#include "onebit/Support/DiagnosticCapture.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Transforms/InstCombine/InstCombine.h"
#include "llvm/Transforms/Scalar/EarlyCSE.h"
#include "llvm/Transforms/Scalar/GVN.h"
#include "llvm/Transforms/Scalar/LICM.h"
#include "llvm/Transforms/Scalar/LoopPassManager.h"
#include "llvm/Transforms/Scalar/LoopRotation.h"
#include "llvm/Transforms/Scalar/SROA.h"
#include "llvm/Transforms/Scalar/SimplifyCFG.h"
#include "llvm/Transforms/Utils/LCSSA.h"
#include "llvm/Transforms/Utils/LoopSimplify.h"
#include "llvm/Transforms/Vectorize/LoopVectorize.h"
#include "llvm/Transforms/Vectorize/SLPVectorizer.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>

using namespace mlir;

namespace onebit {
namespace {

/// The DType of element type `t`; `isUnsigned` (the `onebit.unsigned`
/// attribute) picks the unsigned DType of a signless integer.
bool toDType(Type t, bool isUnsigned, DType &out) {
  if (isUnsigned) {
    if (t.isInteger(64))
      out = DType::U64;
    else if (t.isInteger(32))
      out = DType::U32;
    else if (t.isInteger(16))
      out = DType::U16;
    else if (t.isInteger(8))
      out = DType::U8;
    else
      return false;
  } else if (t.isF32())
    out = DType::F32;
  else if (t.isF16())
    out = DType::F16;
  else if (t.isBF16())
    out = DType::BF16;
  else if (t.isF64())
    out = DType::F64;
  else if (t.isInteger(64))
    out = DType::I64;
  else if (t.isInteger(32))
    out = DType::I32;
  else if (t.isInteger(16))
    out = DType::I16;
  else if (t.isInteger(8))
    out = DType::I8;
  else if (t.isInteger(1))
    out = DType::Bool;
  else
    return false;
  return true;
}

/// The signature of an argument or result of type `t` with attributes
/// `attrs` (its `onebit.name` and `onebit.unsigned`).
bool signatureOf(Type t, DictionaryAttr attrs, const std::string &fallback,
                 TensorSignature &sig, std::string &error) {
  auto rt = dyn_cast<RankedTensorType>(t);
  bool isUnsigned = attrs && attrs.get("onebit.unsigned");
  if (!rt || !toDType(rt.getElementType(), isUnsigned, sig.dtype)) {
    std::string s;
    llvm::raw_string_ostream os(s);
    os << t;
    error =
        fallback + " has type " + s +
        (isUnsigned ? " with onebit.unsigned; only i8, i16, i32 and i64 "
                      "elements can be unsigned"
                    : "; onebit-run passes ranked tensors of f32, f16, bf16, "
                      "f64, i64, i32, i16, i8 or i1");
    return false;
  }
  sig.shape.assign(rt.getShape().begin(), rt.getShape().end());
  auto name = attrs ? attrs.getAs<StringAttr>("onebit.name") : StringAttr();
  sig.name = name ? name.str() : fallback;
  return true;
}

/// Reads the index range attributes of argument `i` of `fn` into `sig`.
void indexRangeOf(func::FuncOp fn, unsigned i, TensorSignature &sig) {
  auto bound = fn.getArgAttrOfType<IntegerAttr>(i, "onebit.index_bound");
  if (!bound || sig.dtype == DType::Bool || sig.dtype == DType::F32 ||
      sig.dtype == DType::F16 || sig.dtype == DType::F64 ||
      sig.dtype == DType::BF16)
    return;
  sig.hasIndexRange = true;
  sig.indexBound = bound.getInt();
  if (auto min = fn.getArgAttrOfType<IntegerAttr>(i, "onebit.index_min"))
    sig.indexMin = min.getInt();
  if (auto user = fn.getArgAttrOfType<StringAttr>(i, "onebit.index_user"))
    sig.indexUser = user.str();
}

} // namespace

static CudaRuntimeHooks &cudaRuntime() {
  static CudaRuntimeHooks hooks;
  return hooks;
}

CompiledModel::CompiledModel(Target target)
    : Executable(target == Target::Cuda ? cudaRuntime().freeBuffer
                                        : &_mlir_memref_to_llvm_free),
      target_(target) {}

CompiledModel::~CompiledModel() = default;

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

/// Fills the signature of `fn` into `cm`.
static bool describeEntry(func::FuncOp fn, Executable::Entry &cm,
                          std::string &error) {
  cm.name = fn.getName().str();
  for (unsigned i = 0; i < fn.getNumArguments(); ++i) {
    TensorSignature s;
    if (!signatureOf(fn.getArgument(i).getType(), fn.getArgAttrDict(i),
                     "argument " + std::to_string(i), s, error))
      return false;
    indexRangeOf(fn, i, s);
    cm.inputs.push_back(s);
  }
  for (unsigned i = 0; i < fn.getNumResults(); ++i) {
    TensorSignature s;
    if (!signatureOf(fn.getResultTypes()[i], fn.getResultAttrDict(i),
                     "result " + std::to_string(i), s, error))
      return false;
    // Tied to an argument: written there, not returned (the lowering drops
    // it: onebit-drop-inplace-results).
    if (auto tied = fn.getResultAttrOfType<IntegerAttr>(i, "onebit.inplace_arg")) {
      int64_t arg = tied.getInt();
      if (arg < 0 || arg >= int64_t(cm.inputs.size()) ||
          cm.inputs[arg].dtype != s.dtype ||
          cm.inputs[arg].shape != s.shape) {
        error = "result " + std::to_string(i) + " (" + s.name +
                ") of @" + cm.name + " is tied to argument " +
                std::to_string(arg) + ", which does not have its type";
        return false;
      }
      cm.inplaceArgs.push_back(int(arg));
      continue;
    }
    cm.results.push_back(s);
  }
  for (unsigned i = 0; i < fn.getNumArguments(); ++i) {
    const TensorSignature &s = cm.inputs[i];
    bool isInt = s.dtype == DType::I64 || s.dtype == DType::I32;
    if (fn.getArgAttr(i, "onebit.cache_position")) {
      if (!s.shape.empty() || !isInt || cm.positionArg >= 0) {
        error = "@" + cm.name + ": the cache position must be one rank-0 "
                "i64 or i32 argument";
        return false;
      }
      cm.positionArg = int(i);
    }
    if (fn.getArgAttr(i, "onebit.kv_cache")) {
      if (s.shape.size() < 3 ||
          !llvm::is_contained(cm.inplaceArgs, int(i))) {
        error = "@" + cm.name + ": KV cache " + s.name +
                " must be [layers, batch, context, ...] and updated in place";
        return false;
      }
      cm.cacheArgs.push_back(int(i));
    }
    if (s.hasIndexRange && s.shape.size() == 2 && cm.tokensArg < 0)
      cm.tokensArg = int(i);
  }
  if ((cm.positionArg >= 0) != !cm.cacheArgs.empty() ||
      (cm.positionArg >= 0 && cm.tokensArg < 0)) {
    error = "@" + cm.name + " has KV caches without a cache position and "
            "token ids [batch, tokens], or the other way round";
    return false;
  }
  return true;
}

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

// SelectionDAG instruction selection works on one basic block at a time,
// and parts of it (load clustering, DAG combines) and the schedulers are
// superlinear in the size of a block; FastISel at -O0 hands whole blocks to
// it when it meets a struct insertvalue. The straight-line glue of a large
// train step is one block of hundreds of thousands of instructions: cut
// every block into pieces of at most kMaxBlock instructions, joined by
// unconditional branches (values simply live across them).
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

static void splitHugeBlocks(llvm::Module &m) {
  constexpr size_t kMaxBlock = 512;
  for (llvm::Function &f : m) {
    std::vector<llvm::BasicBlock *> blocks;
    for (llvm::BasicBlock &bb : f)
      if (bb.size() > 2 * kMaxBlock)
        blocks.push_back(&bb);
    for (llvm::BasicBlock *bb : blocks) {
      std::vector<llvm::Instruction *> cuts;
      size_t i = 0;
      for (llvm::Instruction &inst : *bb) {
        if (i > 0 && i % kMaxBlock == 0 && !llvm::isa<llvm::PHINode>(inst) &&
            &inst != bb->getTerminator())
          cuts.push_back(&inst);
        ++i;
      }
      // From the back, so that each split moves one piece only.
      for (auto it = cuts.rbegin(); it != cuts.rend(); ++it)
        bb->splitBasicBlock(*it);
    }
  }
}

// The JIT's function pipeline (instead of LLVM's default<O3>, see compile()),
// in LLVM's textual form: sroa, early-cse<memssa>,
// instcombine<no-verify-fixpoint>, simplifycfg, loop-mssa(licm), gvn,
// loop-simplify, lcssa, loop-rotate, loop-vectorize, slp-vectorizer,
// instcombine<no-verify-fixpoint>, simplifycfg.
static void addJitFunctionPasses(llvm::FunctionPassManager &fpm) {
  llvm::InstCombineOptions instCombine;
  instCombine.setVerifyFixpoint(false);
  fpm.addPass(llvm::SROAPass(llvm::SROAOptions::ModifyCFG));
  fpm.addPass(llvm::EarlyCSEPass(/*UseMemorySSA=*/true));
  fpm.addPass(llvm::InstCombinePass(instCombine));
  fpm.addPass(llvm::SimplifyCFGPass(llvm::SimplifyCFGOptions()));
  {
    llvm::LoopPassManager lpm;
    lpm.addPass(llvm::LICMPass(llvm::LICMOptions()));
    fpm.addPass(llvm::createFunctionToLoopPassAdaptor(std::move(lpm),
                                                      /*UseMemorySSA=*/true));
  }
  fpm.addPass(llvm::GVNPass());
  fpm.addPass(llvm::LoopSimplifyPass());
  fpm.addPass(llvm::LCSSAPass());
  fpm.addPass(llvm::createFunctionToLoopPassAdaptor(llvm::LoopRotatePass()));
  fpm.addPass(llvm::LoopVectorizePass());
  fpm.addPass(llvm::SLPVectorizerPass());
  fpm.addPass(llvm::InstCombinePass(instCombine));
  fpm.addPass(llvm::SimplifyCFGPass(llvm::SimplifyCFGOptions()));
}

/// Registers the translations to LLVM IR `target` needs and runs its
/// pipeline on `module`; false and `error` (with the diagnostics) on failure.
static bool lowerForTarget(ModuleOp module, Target target,
                           const CompileOptions &options,
                           DiagnosticCapture &diags, std::string &error) {
  MLIRContext *ctx = module.getContext();
  PassManager pm(ctx);
  // Translations to LLVM IR: the JIT's of the host module and, for the GPU,
  // gpu-module-to-binary's of the kernels' gpu.modules (NVVM to PTX) and the
  // JIT's of gpu.binary / gpu.launch_func (module-load and launch calls of
  // the mgpu* runtime).
  registerBuiltinDialectTranslation(*ctx);
  registerLLVMDialectTranslation(*ctx);
  if (target == Target::Cuda) {
    registerGPUDialectTranslation(*ctx);
    registerNVVMDialectTranslation(*ctx);
    DialectRegistry registry;
    gpu::registerOffloadingLLVMTranslationInterfaceExternalModels(registry);
    ctx->appendDialectRegistry(registry);
  }
  if (target == Target::GpuEmulation)
    buildGpuEmulationPipeline(pm, options.gpu);
  else if (target == Target::Cuda)
    buildGpuPipeline(pm, options.gpu);
  else
    buildCpuPipeline(pm, options.cpu);
  if (failed(pm.run(module))) {
    error = std::string(target == Target::GpuEmulation
                            ? "lowering for the GPU emulation failed:\n"
                        : target == Target::Cuda
                            ? "lowering for the GPU failed:\n"
                            : "lowering for the CPU failed:\n") +
            diags.text();
    return false;
  }
  return true;
}

/// The JIT's transformer of the LLVM module: the optimisation pipeline
/// (LLVM's default<On> or the runner's shorter one), -O0 for the argument
/// wrappers, huge blocks cut, and, with options.perfMap, every function's
/// name kept for /tmp/perf-PID.map (collected into `perfNames`).
static std::function<llvm::Error(llvm::Module *)>
makeJitTransformer(llvm::TargetMachine *tm, unsigned optLevel,
                   const CompileOptions &options,
                   std::shared_ptr<std::vector<std::string>> perfNames) {
  // LLVM's default<O2/O3> pipelines spend minutes in IndVarSimplify on the
  // large loop nests of generated train steps (37 s of 40 s for a 2-layer
  // model); this shorter function pipeline keeps what matters for the
  // lowered linalg loops (SROA, CSE, LICM, GVN, loop and SLP vectorization)
  // and compiles in seconds. options.llvmDefaultPipeline selects LLVM's.
  std::function<llvm::Error(llvm::Module *)> transformer;
  if (optLevel == 0 || options.llvmDefaultPipeline) {
    transformer = makeOptimizingTransformer(optLevel, 0, tm);
  } else {
    llvm::TargetMachine *target = tm;
    transformer = [target](llvm::Module *m) -> llvm::Error {
      llvm::LoopAnalysisManager lam;
      llvm::FunctionAnalysisManager fam;
      llvm::CGSCCAnalysisManager cgam;
      llvm::ModuleAnalysisManager mam;
      llvm::PipelineTuningOptions pto;
      pto.LoopVectorization = true;
      pto.SLPVectorization = true;
      llvm::PassBuilder pb(target, pto);
      pb.registerModuleAnalyses(mam);
      pb.registerCGSCCAnalyses(cgam);
      pb.registerFunctionAnalyses(fam);
      pb.registerLoopAnalyses(lam);
      pb.crossRegisterProxies(lam, fam, cgam, mam);
      llvm::FunctionPassManager fpm;
      addJitFunctionPasses(fpm);
      // optnone functions (straight-line glue, argument wrappers) are not
      // optimised.
      for (llvm::Function &f : *m)
        if (!f.isDeclaration() && !f.hasOptNone())
          fpm.run(f, fam);
      return llvm::Error::success();
    };
  }
  // Whichever pipeline: the ExecutionEngine's argument-unpacking wrappers
  // (_mlir_*) of a train step with thousands of memref arguments are single
  // blocks of thousands of loads, on which the post-RA scheduler is
  // quadratic; like the glue left by onebit-outline-loop-nests they are
  // compiled at -O0 (optnone). Huge blocks are cut before code generation.
  // options.perfMap writes /tmp/perf-PID.map so that `perf report` names
  // the JIT-compiled functions: every defined function is given external
  // linkage (after optimisation) and looked up once the module is compiled.
  const bool perfMap = options.perfMap;
  transformer = [optimize = std::move(transformer), perfMap,
                 perfNames](llvm::Module *m) -> llvm::Error {
    for (llvm::Function &f : *m)
      if (!f.isDeclaration() && f.getName().starts_with("_mlir_") &&
          !f.hasFnAttribute(llvm::Attribute::AlwaysInline)) {
        f.addFnAttr(llvm::Attribute::OptimizeNone);
        f.addFnAttr(llvm::Attribute::NoInline);
      }
    if (llvm::Error e = optimize(m))
      return e;
    splitHugeBlocks(*m);
    if (perfMap)
      for (llvm::Function &f : *m)
        if (!f.isDeclaration()) {
          f.setLinkage(llvm::GlobalValue::ExternalLinkage);
          f.setVisibility(llvm::GlobalValue::DefaultVisibility);
          perfNames->push_back(f.getName().str());
        }
    return llvm::Error::success();
  };
  return transformer;
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
        {"_mlir_ciface_onebit_sign_matmul_f32",
         reinterpret_cast<void *>(&_mlir_ciface_onebit_sign_matmul_f32)},
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

/// Erases the public functions of `module` that are not `entries` and that
/// nothing calls: they cannot be called through a CompiledModel, and not
/// lowering them saves their compile time (a GGUF import with KV-cache
/// entries also holds the full forward).
static void eraseNonEntries(ModuleOp module,
                            const std::vector<std::string> &entries) {
  for (auto fn : llvm::make_early_inc_range(module.getOps<func::FuncOp>())) {
    if (!fn.isPublic() || llvm::is_contained(entries, fn.getName().str()))
      continue;
    std::optional<SymbolTable::UseRange> uses =
        SymbolTable::getSymbolUses(fn, module);
    if (uses && uses->empty())
      fn.erase();
  }
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
  for (const std::string &entry : entries) {
    auto fn = dyn_cast_or_null<func::FuncOp>(
        SymbolTable::lookupSymbolIn(*module, entry));
    if (!fn || fn.isDeclaration() || !fn.isPublic()) {
      error = "no public function named '" + entry + "' in the module";
      return nullptr;
    }
    Entry e;
    if (!describeEntry(fn, e, error))
      return nullptr;
    cm->entries_.push_back(std::move(e));
  }

  eraseNonEntries(*module, entries);

  auto t0 = std::chrono::steady_clock::now();
  if (!lowerForTarget(*module, target, options, diags, error))
    return nullptr;
  if (target == Target::Cuda)
    module->walk([&](gpu::BinaryOp) { ++cm->gpuKernels_; });

  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  auto tmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!tmb) {
    error = "cannot target the host: " + llvm::toString(tmb.takeError());
    return nullptr;
  }
  const unsigned optLevel = std::min(options.jitOptLevel, 3u);
  const llvm::CodeGenOptLevel cgLevel =
      optLevel == 0   ? llvm::CodeGenOptLevel::None
      : optLevel == 1 ? llvm::CodeGenOptLevel::Less
      : optLevel == 2 ? llvm::CodeGenOptLevel::Default
                      : llvm::CodeGenOptLevel::Aggressive;
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
  ExecutionEngineOptions opts;
  opts.transformer = transformer;
  opts.jitCodeGenOptLevel = cgLevel;
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
  cm->compileMs_ = std::chrono::duration<double, std::milli>(
                       std::chrono::steady_clock::now() - t0)
                       .count();
  return cm;
}

} // namespace onebit
