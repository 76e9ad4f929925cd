//===- Lowering.cpp - from a loaded module to optimised LLVM IR -----------===//
//
// The steps the JIT (Runner.cpp) and onebit-compile's artifact writer share:
// the entries' signatures, the MLIR pipeline of a target, and the LLVM
// optimisation of the translated module.
//
//===----------------------------------------------------------------------===//

#include "onebit/Runner/Lowering.h"
#include "onebit/Support/DiagnosticCapture.h"
#include "onebit/Support/SymbolReach.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "llvm/Analysis/ValueTracking.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Instructions.h"
#include "llvm/IR/Module.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Transforms/InstCombine/InstCombine.h"
#include "llvm/Transforms/Scalar/DCE.h"
#include "llvm/Transforms/Scalar/EarlyCSE.h"
#include "llvm/Transforms/Scalar/GVN.h"
#include "llvm/Transforms/Scalar/InstSimplifyPass.h"
#include "llvm/Transforms/Scalar/LICM.h"
#include "llvm/Transforms/Scalar/LoopPassManager.h"
#include "llvm/Transforms/Scalar/LoopRotation.h"
#include "llvm/Transforms/Scalar/SROA.h"
#include "llvm/Transforms/Scalar/SimplifyCFG.h"
#include "llvm/Transforms/Utils/Cloning.h"
#include "llvm/Transforms/Utils/LCSSA.h"
#include "llvm/Transforms/Utils/LoopSimplify.h"
#include "llvm/Transforms/Vectorize/LoopVectorize.h"
#include "llvm/Transforms/Vectorize/SLPVectorizer.h"

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

bool describeEntries(ModuleOp module, const std::vector<std::string> &names,
                     std::vector<Executable::Entry> &entries,
                     std::string &error) {
  for (const std::string &name : names) {
    auto fn = dyn_cast_or_null<func::FuncOp>(
        SymbolTable::lookupSymbolIn(module, name));
    if (!fn || fn.isDeclaration() || !fn.isPublic()) {
      error = "no public function named '" + name + "' in the module";
      return false;
    }
    Executable::Entry e;
    if (!describeEntry(fn, e, error))
      return false;
    entries.push_back(std::move(e));
  }
  return true;
}

/// Erases the functions and globals of `module` that no entry reaches
/// through symbol references (calls, and attributes naming a symbol): they
/// cannot be called through a CompiledModel, and not lowering them saves
/// their compile time. A GGUF import with KV-cache entries also holds the
/// full forward; a train step's module also holds the student, the teacher,
/// the loss and the inference forward it was built from, which the step
/// itself does not call. A reference from an unreached function (the
/// teacher's `onebit.teacher = @main`) keeps nothing alive. Function
/// declarations stay (the runtime's, which later passes look up).
void eraseNonEntries(ModuleOp module,
                            const std::vector<std::string> &entries) {
  SmallVector<Operation *> roots;
  for (const std::string &name : entries)
    roots.push_back(SymbolTable::lookupSymbolIn(module, name));
  llvm::DenseSet<Operation *> reached;
  (void)reachSymbols(module, roots, reached);
  for (Operation &op : llvm::make_early_inc_range(module.getOps())) {
    if (reached.count(&op))
      continue;
    if (auto fn = dyn_cast<func::FuncOp>(op)) {
      if (!fn.isDeclaration())
        fn.erase();
    } else if (isa<memref::GlobalOp>(op)) {
      op.erase();
    }
  }
}

void readArgTables(ModuleOp module, std::vector<Executable::Entry> &entries) {
  for (Executable::Entry &e : entries) {
    e.tableArgs.clear();
    Operation *fn = SymbolTable::lookupSymbolIn(module, e.name);
    auto positions =
        fn ? fn->getAttrOfType<DenseI64ArrayAttr>("onebit.arg_table")
           : DenseI64ArrayAttr();
    if (positions)
      for (int64_t k : positions.asArrayRef())
        e.tableArgs.push_back(int(k));
  }
}

/// Registers the translations to LLVM IR `target` needs and runs its
/// pipeline on `module`; false and `error` (with the diagnostics) on failure.
bool lowerForTarget(ModuleOp module, Target target,
                           const CompileOptions &options,
                           DiagnosticCapture &diags, std::string &error) {
  MLIRContext *ctx = module.getContext();
  PassManager pm(ctx);
  // The IR is verified once, at the end, unless every pass's output is
  // asked for: after each of the pipeline's ~40 passes, verification was a
  // fifth of a train step's compile, and more the deeper the model (it
  // walks the IR that is still unrolled; docs/training.md "Compile time").
  pm.enableVerifier(options.verifyEachPass);
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
  if (!options.verifyEachPass && failed(verify(module))) {
    error = "the lowered module is not valid IR (a pass of the lowering "
            "produced it; ONEBIT_VERIFY_EACH=1 names the pass):\n" +
            diags.text();
    return false;
  }
  return true;
}

// SelectionDAG instruction selection works on one basic block at a time,
// and parts of it (load clustering, DAG combines) and the schedulers are
// superlinear in the size of a block; FastISel at -O0 hands whole blocks to
// it when it meets a struct insertvalue. The straight-line glue of a large
// train step is one block of hundreds of thousands of instructions: cut
// every block into pieces of at most kMaxBlock instructions, joined by
// unconditional branches (values simply live across them).
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

/// The number of scalars in `t` (1 for a scalar).
static uint64_t leafCount(llvm::Type *t) {
  if (auto *st = llvm::dyn_cast<llvm::StructType>(t)) {
    uint64_t n = 0;
    for (llvm::Type *e : st->elements())
      n += leafCount(e);
    return n;
  }
  if (auto *at = llvm::dyn_cast<llvm::ArrayType>(t))
    return at->getNumElements() * leafCount(at->getElementType());
  return 1;
}

/// Replaces `store` of an aggregate by a store of each scalar at its
/// offset, read from the insertvalue chain that built it where there is
/// one (an extractvalue otherwise).
static void scalarizeStore(llvm::StoreInst *store,
                           const llvm::DataLayout &layout) {
  llvm::IRBuilder<> b(store);
  llvm::Value *agg = store->getValueOperand();
  llvm::Type *type = agg->getType();
  // The top-level members the chain inserted, found in one walk.
  llvm::DenseMap<unsigned, llvm::Value *> top;
  for (llvm::Value *v = agg;
       auto *insert = llvm::dyn_cast<llvm::InsertValueInst>(v);
       v = insert->getAggregateOperand())
    if (insert->getNumIndices() == 1)
      top.try_emplace(insert->getIndices()[0],
                      insert->getInsertedValueOperand());
  llvm::SmallVector<unsigned> at;
  std::function<void(llvm::Type *)> visit = [&](llvm::Type *t) {
    if (auto *st = llvm::dyn_cast<llvm::StructType>(t)) {
      for (unsigned i = 0; i < st->getNumElements(); ++i) {
        at.push_back(i);
        visit(st->getElementType(i));
        at.pop_back();
      }
      return;
    }
    if (auto *arr = llvm::dyn_cast<llvm::ArrayType>(t)) {
      for (unsigned i = 0; i < arr->getNumElements(); ++i) {
        at.push_back(i);
        visit(arr->getElementType());
        at.pop_back();
      }
      return;
    }
    llvm::Value *v = nullptr;
    auto it = top.find(at.front());
    if (it != top.end())
      v = at.size() == 1 ? it->second
                         : llvm::FindInsertedValue(
                               it->second, llvm::ArrayRef(at).drop_front());
    if (!v || v->getType() != t)
      v = b.CreateExtractValue(agg, at);
    llvm::SmallVector<llvm::Value *> index{b.getInt32(0)};
    for (unsigned i : at)
      index.push_back(b.getInt32(i));
    b.CreateAlignedStore(
        v, b.CreateInBoundsGEP(type, store->getPointerOperand(), index),
        layout.getABITypeAlign(t));
  };
  visit(type);
  store->eraseFromParent();
}

/// The straight-line glue (optnone: onebit-outline-loop-nests, the _mlir_
/// wrappers) builds a memref descriptor with insertvalue and takes it apart
/// with extractvalue for every call; code generation at -O0 handles each
/// through SelectionDAG (FastISel gives up on insertvalue). Folding each
/// extractvalue of an insertvalue to the inserted value and deleting the
/// dead rest is linear and leaves about a third of the glue (a 32-layer
/// train step: 55,900 -> 15,700 lines).
static void foldGlueDescriptors(llvm::Module &m) {
  // An extractvalue of a long insertvalue chain (an entry's returned state,
  // inlined into its wrapper) is not folded by InstSimplify, which looks one
  // insertvalue up; FindInsertedValue walks the chain. A store of such an
  // aggregate (the wrapper's results) becomes a store per scalar.
  const llvm::DataLayout &layout = m.getDataLayout();
  for (llvm::Function &f : m) {
    if (f.isDeclaration() || !f.hasOptNone())
      continue;
    for (llvm::BasicBlock &bb : f)
      for (llvm::Instruction &inst : llvm::make_early_inc_range(bb)) {
        if (auto *store = llvm::dyn_cast<llvm::StoreInst>(&inst)) {
          llvm::Type *t = store->getValueOperand()->getType();
          if (t->isAggregateType() && leafCount(t) > 64 && !store->isVolatile())
            scalarizeStore(store, layout);
          continue;
        }
        auto *extract = llvm::dyn_cast<llvm::ExtractValueInst>(&inst);
        if (!extract ||
            !llvm::isa<llvm::InsertValueInst>(extract->getAggregateOperand()))
          continue;
        if (llvm::Value *v = llvm::FindInsertedValue(
                extract->getAggregateOperand(), extract->getIndices()))
          if (v->getType() == extract->getType()) {
            extract->replaceAllUsesWith(v);
            extract->eraseFromParent();
          }
      }
  }
  llvm::FunctionAnalysisManager fam;
  llvm::PassBuilder pb;
  pb.registerFunctionAnalyses(fam);
  llvm::FunctionPassManager fpm;
  fpm.addPass(llvm::InstSimplifyPass());
  fpm.addPass(llvm::DCEPass());
  for (llvm::Function &f : m)
    if (!f.isDeclaration() && f.hasOptNone())
      fpm.run(f, fam);
}

/// Inlines each entry that is straight-line glue (optnone) into its packed
/// wrapper (`_mlir_<entry>`, its only caller), and each glue function that
/// returns an aggregate of more than 64 scalars into its only caller when
/// that is glue too, and deletes them. A train step that returns its new state returns
/// one aggregate of thousands of descriptors, and so does the gradient
/// function it calls; SelectionDAG lowers such a return, call and store in
/// time that grows with the square of the aggregate (55 s at 32 layers).
/// In one function the aggregates fold away (foldGlueDescriptors).
static void inlineAggregateReturns(llvm::Module &m) {
  auto soleCall = [](llvm::Function *f) -> llvm::CallBase * {
    if (!f || f->isDeclaration() || !f->hasOneUse())
      return nullptr;
    auto *call = llvm::dyn_cast<llvm::CallBase>(f->user_back());
    return call && call->getCalledFunction() == f ? call : nullptr;
  };
  // One call at a time: inlining clones the callee's calls into the caller
  // and deletes the callee, so candidates are found again after each.
  auto next = [&]() -> llvm::CallBase * {
    for (llvm::Function &f : m) {
      llvm::StringRef name = f.getName();
      // An entry that is not glue stays apart: in its wrapper (optnone) it
      // would not be optimised.
      if (!f.isDeclaration() && name.starts_with("_mlir_"))
        if (llvm::Function *entry = m.getFunction(name.drop_front(6));
            entry && entry->hasOptNone())
          if (llvm::CallBase *call = soleCall(entry))
            if (call->getFunction() == &f)
              return call;
      if (f.hasOptNone() && leafCount(f.getReturnType()) > 64)
        if (llvm::CallBase *call = soleCall(&f))
          if (call->getFunction()->hasOptNone())
            return call;
    }
    return nullptr;
  };
  while (llvm::CallBase *call = next()) {
    llvm::Function *callee = call->getCalledFunction();
    llvm::InlineFunctionInfo info;
    if (!llvm::InlineFunction(*call, info).isSuccess())
      return;
    callee->eraseFromParent();
  }
}

/// The JIT's transformer of the LLVM module: the optimisation pipeline
/// (LLVM's default<On> or the runner's shorter one), -O0 for the argument
/// wrappers, huge blocks cut, and, with options.perfMap, every function's
/// name kept for /tmp/perf-PID.map (collected into `perfNames`).
std::function<llvm::Error(llvm::Module *)>
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
    inlineAggregateReturns(*m);
    if (llvm::Error e = optimize(m))
      return e;
    foldGlueDescriptors(*m);
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

llvm::CodeGenOptLevel codeGenOptLevel(unsigned optLevel) {
  return optLevel == 0   ? llvm::CodeGenOptLevel::None
         : optLevel == 1 ? llvm::CodeGenOptLevel::Less
         : optLevel == 2 ? llvm::CodeGenOptLevel::Default
                         : llvm::CodeGenOptLevel::Aggressive;
}

} // namespace onebit
