//===- TrainProgram.cpp - the trainer's MLIR programs ---------------------===//

#include "TrainProgram.h"

#include "onebit/Dialect/OneBit/IR/OneBit.h"
#include "onebit/Dialect/OneBit/Transforms/Passes.h"
#include "onebit/Dialect/OneBit/Utils/ConstantData.h"
#include "onebit/Frontend/ModelLoader.h"
#include "onebit/Runtime/Generator.h"

#include "mlir/Bytecode/BytecodeWriter.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdio>
#include <cstring>

using namespace mlir;

namespace onebit {

/// The captured errors, one "location: message" line each.
static std::string diagText(const DiagnosticCapture &diags) {
  std::string s;
  for (const std::string &m : diags.messages())
    s += m + "\n";
  return s;
}

static TrainError plain(std::string message) {
  return TrainError{TrainOption::None, std::move(message)};
}

/// Loads the file; an ONNX model whose token ids are dynamic is imported
/// twice: the first import names the input and its dims, the second fixes
/// them to options.batch / options.seqLen.
static OwningOpRef<ModuleOp> loadStatic(MLIRContext &ctx,
                                        const TrainOptions &o,
                                        TrainError &error) {
  llvm::StringRef path(o.teacherPath);
  ModelLoadOptions lo;
  if (path.ends_with(".gguf")) {
    if (!o.batch || !o.seqLen) {
      error = plain("a GGUF teacher has dynamic token ids: give a batch size "
                    "and a sequence length");
      return nullptr;
    }
    lo.gguf.batch = o.batch;
    lo.gguf.seqLen = o.seqLen;
    lo.gguf.f16Weights = useF16Teacher(o);
    // gen:N data decode with the teacher's KV-cache entries: imported now,
    // they share its weights (one sequence at a time: a dynamic batch).
    if (llvm::StringRef(o.data).starts_with("gen:")) {
      lo.gguf.kvCache = true;
      lo.gguf.cacheBatch = 0;
    }
    return loadModel(path, ctx, lo);
  }
  OwningOpRef<ModuleOp> fp = loadModel(path, ctx, lo);
  if (!fp || !path.ends_with(".onnx"))
    return fp;
  auto f = *fp->getOps<func::FuncOp>().begin();
  auto t = dyn_cast<RankedTensorType>(f.getArgumentTypes()[0]);
  auto name = f.getArgAttrOfType<StringAttr>(0, "onebit.name");
  if (!t || !name || t.hasStaticShape() || t.getRank() != 2)
    return fp;
  int64_t b = o.batch ? o.batch : t.getDimSize(0);
  int64_t s = o.seqLen ? o.seqLen : t.getDimSize(1);
  if (ShapedType::isDynamic(b) || ShapedType::isDynamic(s)) {
    error = plain("the teacher's input '" + name.str() +
                  "' has dynamic dims: give a batch size and a sequence "
                  "length");
    return nullptr;
  }
  lo.onnx.inputShapes[name.getValue()] = {b, s};
  return loadModel(path, ctx, lo);
}

bool useF16Teacher(const TrainOptions &o) {
  // The f16-B matmul is a CPU kernel; a trainable head trains in f32.
  return o.f16Teacher && o.target == Target::Cpu &&
         !llvm::is_contained(llvm::split(o.trainable, ','), "head");
}

/// Moves the KV-cache entries of an imported GGUF teacher (@prefill and
/// @decode) out of `fp` into a module of their own; both modules keep the
/// same weight attributes, so no data are copied. Null when `fp` has none.
static OwningOpRef<ModuleOp> splitGenerator(ModuleOp fp) {
  auto isCacheEntry = [](func::FuncOp f) {
    return f.getSymName() == kPrefillEntry || f.getSymName() == kDecodeEntry;
  };
  if (!fp.lookupSymbol<func::FuncOp>(kPrefillEntry) ||
      !fp.lookupSymbol<func::FuncOp>(kDecodeEntry))
    return nullptr;
  OwningOpRef<ModuleOp> gen(cast<ModuleOp>(fp->clone()));
  for (auto f : llvm::make_early_inc_range(gen->getOps<func::FuncOp>()))
    if (f.isPublic() && !isCacheEntry(f))
      f.erase();
  for (auto f : llvm::make_early_inc_range(fp.getOps<func::FuncOp>()))
    if (isCacheEntry(f))
      f.erase();
  return gen;
}

bool loadTeacher(MLIRContext &ctx, const DiagnosticCapture &diags,
                 const TrainOptions &o, Teacher &teacher, TrainError &error) {
  OwningOpRef<ModuleOp> fp = loadStatic(ctx, o, error);
  if (!fp) {
    if (error.empty())
      error = plain("cannot load the teacher '" + o.teacherPath + "':\n" +
                    diagText(diags));
    return false;
  }
  if (llvm::StringRef(o.teacherPath).ends_with(".gguf"))
    teacher.generator = splitGenerator(*fp);
  func::FuncOp main;
  for (auto f : fp->getOps<func::FuncOp>())
    if (f.isPublic() && !f.isExternal()) {
      if (main) {
        error = plain("the teacher has several public functions; keep only "
                      "the forward function");
        return false;
      }
      main = f;
    }
  if (!main || main.getNumArguments() != 1 || main.getNumResults() < 1) {
    error = plain("the teacher must have one public function taking token "
                  "ids [batch, seq] and returning logits [batch, seq, vocab]");
    return false;
  }
  auto idsType = dyn_cast<RankedTensorType>(main.getArgumentTypes()[0]);
  auto logitsType = dyn_cast<RankedTensorType>(main.getResultTypes()[0]);
  if (!idsType || idsType.getRank() != 2 ||
      !idsType.getElementType().isInteger(64) || !idsType.hasStaticShape()) {
    error = plain("the teacher's input must be static i64 token ids [batch, "
                  "seq]");
    return false;
  }
  if (!logitsType || logitsType.getRank() != 3 ||
      !logitsType.hasStaticShape()) {
    error = plain("the teacher's result #0 must be static logits [batch, "
                  "seq, vocab]");
    return false;
  }
  teacher.batch = idsType.getDimSize(0);
  teacher.seqLen = idsType.getDimSize(1);
  teacher.vocab = logitsType.getDimSize(2);
  if (o.batch && o.batch != teacher.batch) {
    error = TrainError{TrainOption::Batch,
                       std::to_string(o.batch) +
                           " does not match the model's static batch " +
                           std::to_string(teacher.batch)};
    return false;
  }
  if (o.seqLen && o.seqLen != teacher.seqLen) {
    error = TrainError{TrainOption::SeqLen,
                       std::to_string(o.seqLen) +
                           " does not match the model's static sequence "
                           "length " +
                           std::to_string(teacher.seqLen)};
    return false;
  }
  teacher.function = main.getSymName().str();
  teacher.module = std::move(fp);
  return true;
}

OwningOpRef<ModuleOp> buildTrainStep(const Teacher &teacher,
                                     const TrainOptions &o,
                                     bool splitUpdate,
                                     const DiagnosticCapture &diags,
                                     std::string &mseTaps, TrainError &error) {
  OwningOpRef<ModuleOp> step(
      cast<ModuleOp>(teacher.module.get()->clone()));
  PassManager pm(step->getContext());
  onebit::OneBitQuantizeOptions quantize;
  quantize.init = o.init;
  quantize.keepTeacher = true;
  pm.addPass(onebit::createOneBitQuantize(quantize));
  onebit::OneBitBuildTrainStepOptions trainStep;
  trainStep.alpha = o.alpha;
  trainStep.weightDecay = o.weightDecay;
  trainStep.mseLastLayer = o.mseLastLayer;
  // Checkpointing outlines the loss's layers before reverse mode. Without
  // it the step is differentiated unrolled and the CPU pipeline outlines
  // it afterwards: outlining first compiled no faster (docs/training.md,
  // "Compile time"), so the default step stays as it was.
  trainStep.checkpointActivations = o.checkpointActivations;
  trainStep.splitUpdate = splitUpdate;
  // The fused step updates the state in its buffers: no second copy of the
  // parameters and moments per step. The CPU's are the trainer's host
  // tensors (runInPlace); a GPU step's are device memory the session holds
  // for the whole run (DeviceTrainState.h), so per step only the tokens go
  // in and the losses come out. Split (data parallel, gradient
  // accumulation), @F_apply_update updates in place on the CPU.
  trainStep.updateInPlace = !splitUpdate || o.target == Target::Cpu;
  // On the CPU the data-parallel gradient is written straight into the
  // trainer's all-reduce buffer (its destination arguments), not copied
  // there after the call.
  trainStep.gradDestinations = splitUpdate && o.target == Target::Cpu;
  // Each gradient, once final, is announced to the runtime, so that a
  // data-parallel run can all-reduce it during the rest of the backward
  // (a call that returns at once when nobody listens).
  trainStep.gradReadyCalls = trainStep.gradDestinations;
  trainStep.moments = o.bf16Moments ? "bf16" : "f32";
  if (!o.trainable.empty()) {
    llvm::SmallVector<llvm::StringRef> names;
    llvm::StringRef(o.trainable).split(names, ',');
    for (llvm::StringRef name : names)
      trainStep.trainable.push_back(name.str());
  }
  pm.addPass(onebit::createOneBitBuildTrainStep(trainStep));
  if (failed(pm.run(*step))) {
    error = plain("cannot build the train step:\n" + diagText(diags));
    return nullptr;
  }
  // The hidden states L_MSE compares (recorded by the pass), for the log.
  mseTaps.clear();
  if (auto lossFn =
          step->lookupSymbol<func::FuncOp>(teacher.function + "_kd_loss"))
    if (auto taps = lossFn->getAttrOfType<ArrayAttr>("onebit.hidden_states");
        taps && !taps.empty()) {
      auto names = llvm::to_vector(taps.getAsValueRange<StringAttr>());
      mseTaps = std::to_string(names.size()) + " hidden state" +
                (names.size() == 1 ? "" : "s") + " (" + names.front().str() +
                (names.size() > 1 ? " ... " + names.back().str() : "") + ")";
    }
  return OwningOpRef<ModuleOp>(std::move(step));
}

bool readTrainInit(ModuleOp step, const std::string &fname,
                   std::vector<std::string> &names,
                   std::vector<HostTensor> &values) {
  auto init = step.lookupSymbol<func::FuncOp>(fname + "_train_init");
  if (!init || init.isDeclaration())
    return false;
  auto ret = cast<func::ReturnOp>(init.getBody().front().getTerminator());
  std::vector<std::string> n;
  std::vector<HostTensor> v;
  for (auto [i, value] : llvm::enumerate(ret.getOperands())) {
    auto c = value.getDefiningOp<arith::ConstantOp>();
    auto attr = c ? dyn_cast<ElementsAttr>(c.getValue()) : ElementsAttr();
    FailureOr<RawConstant> raw =
        attr ? getRawConstant(attr) : FailureOr<RawConstant>(failure());
    auto name = init.getResultAttrOfType<StringAttr>(i, "onebit.name");
    if (failed(raw) || !raw->type.getElementType().isF32() ||
        !raw->type.hasStaticShape() || !name)
      return false;
    HostTensor t;
    t.dtype = DType::F32;
    t.shape.assign(raw->type.getShape().begin(), raw->type.getShape().end());
    const size_t bytes = size_t(raw->type.getNumElements()) * 4;
    if (raw->splat) {
      t.data.resize(bytes);
      for (size_t at = 0; at < bytes; at += 4)
        std::memcpy(t.data.data() + at, raw->bytes.data(), 4);
    } else {
      if (raw->bytes.size() != bytes)
        return false;
      t.data.assign(raw->bytes.begin(), raw->bytes.end());
    }
    n.push_back(name.str());
    v.push_back(std::move(t));
  }
  names = std::move(n);
  values = std::move(v);
  return true;
}

void keepOnlyFunction(ModuleOp module, const std::string &function) {
  // Erasing a function may leave its callees unused: repeat until none is.
  for (bool erased = true; erased;) {
    erased = false;
    for (auto f : llvm::make_early_inc_range(module.getOps<func::FuncOp>())) {
      if (f.getSymName() == function)
        continue;
      std::optional<SymbolTable::UseRange> uses =
          SymbolTable::getSymbolUses(f, module);
      if (uses && uses->empty()) {
        f.erase();
        erased = true;
      }
    }
  }
}

size_t releaseUnusedConstants(MLIRContext &ctx, ArrayRef<ModuleOp> keep) {
  llvm::StringSet<> used;
  for (ModuleOp m : keep)
    m->walk([&](Operation *op) {
      for (NamedAttribute a : op->getAttrs())
        a.getValue().walk([&](DenseResourceElementsAttr r) {
          used.insert(r.getRawHandle().getKey());
        });
    });
  DialectResourceBlobManager &blobs =
      DenseResourceElementsHandle::getManagerInterface(&ctx).getBlobManager();
  std::vector<std::string> unused;
  blobs.getBlobMap([&](const llvm::StringMap<
                       DialectResourceBlobManager::BlobEntry> &map) {
    for (const auto &entry : map) {
      const AsmResourceBlob *blob = entry.getValue().getBlob();
      if (blob && !blob->getData().empty() && !used.contains(entry.getKey()))
        unused.push_back(entry.getKey().str());
    }
  });
  size_t freed = 0;
  for (const std::string &key : unused) {
    freed += blobs.lookup(key)->getBlob()->getData().size();
    blobs.update(key, AsmResourceBlob());
  }
  return freed;
}

bool packStudent(ModuleOp program, const std::string &fname,
                 const std::vector<std::string> &names,
                 std::vector<HostTensor> &params,
                 const DiagnosticCapture &diags, std::string &error) {
  auto student = dyn_cast_or_null<func::FuncOp>(
      SymbolTable::lookupSymbolIn(program, fname + "_student"));
  if (!student) {
    error = "internal: no @" + fname + "_student";
    return false;
  }
  MLIRContext *ctx = program.getContext();
  OpBuilder b = OpBuilder::atBlockBegin(&student.getBody().front());
  const size_t numParams = params.size();
  for (size_t i = 0; i < numParams; ++i) {
    auto type = cast<RankedTensorType>(student.getArgument(i).getType());
    // The blob takes the parameter's buffer: no copy of the parameters.
    auto *owned = new std::vector<char>(std::move(params[i].data));
    AsmResourceBlob blob(
        ArrayRef<char>(owned->data(), owned->size()), alignof(float),
        [owned](void *, size_t, size_t) { delete owned; },
        /*dataIsMutable=*/true);
    Value c = arith::ConstantOp::create(
        b, NameLoc::get(StringAttr::get(ctx, names[i])), type,
        DenseResourceElementsAttr::get(type, names[i], std::move(blob)));
    student.getArgument(i).replaceAllUsesWith(c);
  }
  params.clear();
  llvm::BitVector erase(student.getNumArguments());
  erase.set(0, numParams);
  if (failed(student.eraseArguments(erase))) {
    error = "internal: cannot drop the parameter arguments";
    return false;
  }
  SmallVector<Operation *> others;
  for (Operation &op : program.getBody()->getOperations())
    if (&op != student.getOperation())
      others.push_back(&op);
  for (Operation *op : others)
    op->erase();
  student.setSymName(fname);
  student.setPublic();
  PassManager pm(ctx);
  pm.addPass(onebit::createOneBitPackTrained());
  pm.addPass(mlir::createCanonicalizerPass());
  pm.addPass(mlir::createCSEPass());
  if (failed(pm.run(program))) {
    error = "cannot pack the trained model:\n" + diagText(diags);
    return false;
  }
  return true;
}

bool writeModel(ModuleOp module, const std::string &path, std::string &error) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path + ".tmp", ec);
  if (ec) {
    error = "cannot write " + path + ": " + ec.message();
    return false;
  }
  if (failed(writeBytecodeToFile(module, os))) {
    error = "cannot write " + path;
    return false;
  }
  os.close();
  if (std::rename((path + ".tmp").c_str(), path.c_str()) != 0) {
    error = "cannot rename the model into " + path;
    return false;
  }
  return true;
}

/// Bits of every static float/int tensor constant reachable from `f`'s body.
static double constantBits(func::FuncOp f, double &floatParams) {
  double bits = 0;
  floatParams = 0;
  f.walk([&](arith::ConstantOp c) {
    auto t = dyn_cast<RankedTensorType>(c.getType());
    if (!t || !t.hasStaticShape())
      return;
    bits += double(t.getNumElements()) * t.getElementTypeBitWidth();
    if (isa<FloatType>(t.getElementType()))
      floatParams += double(t.getNumElements());
  });
  return bits;
}

void measureTeacher(const Teacher &teacher, double &fpBits,
                    double &fpParams) {
  auto main = teacher.module.get().lookupSymbol<func::FuncOp>(teacher.function);
  fpBits = constantBits(main, fpParams);
}

TrainSizeReport measureSizes(double fpBits, double fpParams,
                             ModuleOp packed) {
  TrainSizeReport r;
  r.fpBits = fpBits;
  r.fpParams = fpParams;
  auto student = *packed.getOps<func::FuncOp>().begin();
  double ignored;
  r.oneBitBits = constantBits(student, ignored);
  student.walk([&](onebit::BinaryLinearOp op) {
    int64_t n = op.getOutFeatures(), k = op.getInFeatures();
    r.linearWeights += n * k;
    r.linearBits += double(n * k) +
                    32.0 * double(n + k); // signs + f32 g, h (upper bound)
  });
  OwningOpRef<ModuleOp> copy(cast<ModuleOp>(packed->clone()));
  PassManager pm(packed.getContext());
  pm.addPass(onebit::createOneBitInt8Weights());
  if (succeeded(pm.run(*copy)))
    r.deployBits =
        constantBits(*copy->getOps<func::FuncOp>().begin(), ignored);
  return r;
}

} // namespace onebit
