//===- Trainer.cpp - the distillation loop of onebit-train ----------------===//

#include "onebit/Training/Trainer.h"
#include "onebit/Training/Evaluate.h"
#include "onebit/Training/Checkpoint.h"

#include "onebit/Dialect/OneBit/IR/OneBit.h"
#include "onebit/Dialect/OneBit/Transforms/Passes.h"
#include "onebit/Dialect/OneBit/Utils/ConstantData.h"
#include "onebit/Frontend/ModelLoader.h"
#include "onebit/Runner/Runner.h"
#include "onebit/Support/DiagnosticCapture.h"
#include "onebit/Target/GGUF/ImportGGUF.h"
#include "onebit/Tokenizer/BPETokenizer.h"

#include "mlir/Bytecode/BytecodeWriter.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <csignal>
#include <unistd.h>

using namespace mlir;

namespace onebit {
namespace {

/// Collects error diagnostics as text.
/// The trainer's diagnostics: errors only, one "location: message" line each.
struct Diags {
  explicit Diags(MLIRContext &ctx)
      : capture(ctx, DiagnosticCaptureOptions{/*errorsOnly=*/true,
                                              /*withNotes=*/false,
                                              /*compilerStyle=*/false}) {}
  std::string text() const {
    std::string s;
    for (const std::string &m : capture.messages())
      s += m + "\n";
    return s;
  }
  DiagnosticCapture capture;
};

thread_local std::string *gErrorSink = nullptr;

int fail(const std::string &msg) {
  if (gErrorSink)
    *gErrorSink = msg;
  else
    llvm::errs() << "onebit-train: error: " << msg << "\n";
  return 1;
}

HostTensor scalarF32(float v) {
  HostTensor t;
  t.dtype = DType::F32;
  t.data.resize(4);
  std::memcpy(t.data.data(), &v, 4);
  return t;
}

float getScalar(const HostTensor &t) {
  float v;
  std::memcpy(&v, t.data.data(), 4);
  return v;
}

//===----------------------------------------------------------------------===//
// Data
//===----------------------------------------------------------------------===//

std::string fmt(double v) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << llvm::format("%.7g", v);
  return s;
}

/// A progress line on stderr: rewritten in place on a terminal, otherwise
/// printed as plain lines at most every `minGap` seconds (forced lines,
/// such as the last, always). Nothing is printed when `quiet`.
class Progress {
public:
  Progress(bool quiet, double minGap)
      : show_(!quiet), tty_(isatty(2)), minGap_(minGap) {}
  double elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                         start_)
        .count();
  }
  /// Seconds left when `done` of `total` units took elapsed().
  double eta(int64_t done, int64_t total) const {
    return elapsed() / double(done) * double(total - done);
  }
  void update(const std::string &line, bool force = false) {
    if (!show_)
      return;
    const double t = elapsed();
    if (!tty_ && !force && t - last_ < minGap_)
      return;
    last_ = t;
    if (tty_) {
      llvm::errs() << "\r\033[K" << line;
      open_ = true;
    } else {
      llvm::errs() << line << "\n";
    }
  }
  /// Ends an in-place line before other output.
  void end() {
    if (open_)
      llvm::errs() << "\n";
    open_ = false;
  }

private:
  bool show_, tty_, open_ = false;
  double minGap_, last_ = -1e300;
  std::chrono::steady_clock::time_point start_ =
      std::chrono::steady_clock::now();
};

/// LLM-QAT style generation from the teacher: a random first token, greedy
/// for the next 3-5 positions, then sampling from the teacher's softmax.
/// Reports progress on stderr unless `quiet` (a plain line every 10 s when
/// stderr is not a terminal).
bool generateData(CompiledModel &teacher, int64_t count, int64_t batch,
                  int64_t seqLen, int64_t vocab, uint64_t seed, bool quiet,
                  HostTensor &out, std::string &error) {
  Progress progress(quiet, 10.0);
  out.dtype = DType::I64;
  out.shape = {count, seqLen};
  out.data.assign(size_t(count * seqLen) * 8, 0);
  auto *all = reinterpret_cast<int64_t *>(out.data.data());
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + 17);
  for (int64_t first = 0; first < count; first += batch) {
    HostTensor ids;
    ids.dtype = DType::I64;
    ids.shape = {batch, seqLen};
    ids.data.assign(size_t(batch * seqLen) * 8, 0);
    auto *tok = reinterpret_cast<int64_t *>(ids.data.data());
    std::vector<int64_t> greedy(static_cast<size_t>(batch));
    for (int64_t b = 0; b < batch; ++b) {
      tok[b * seqLen] = int64_t(rng() % uint64_t(vocab));
      greedy[size_t(b)] = 3 + int64_t(rng() % 3);
    }
    for (int64_t t = 1; t < seqLen; ++t) {
      std::vector<HostTensor> res;
      if (!teacher.run({ids}, res, error))
        return false;
      const float *logits = reinterpret_cast<const float *>(res[0].data.data());
      for (int64_t b = 0; b < batch; ++b) {
        // Greedy for the first 3-5 positions, then sampled (temperature 1).
        const int64_t pick =
            pickToken(logits + (b * seqLen + (t - 1)) * vocab, vocab,
                      t <= greedy[size_t(b)] ? 0.0 : 1.0, rng);
        tok[b * seqLen + t] = pick;
      }
    }
    for (int64_t b = 0; b < batch && first + b < count; ++b)
      std::memcpy(all + (first + b) * seqLen, tok + b * seqLen,
                  size_t(seqLen) * 8);
    const int64_t done = std::min(count, first + batch);
    progress.update("onebit-train: generated " + std::to_string(done) + "/" +
                        std::to_string(count) + " sequences, " +
                        fmt(std::round(progress.elapsed())) + "s, eta " +
                        fmt(std::round(progress.eta(done, count))) + "s",
                    /*force=*/done == count);
  }
  progress.end();
  return true;
}

double scheduleLr(const TrainOptions &o, int64_t step) {
  if (o.warmup > 0 && step <= o.warmup)
    return o.lr * double(step) / double(o.warmup);
  int64_t span = std::max<int64_t>(1, o.steps - o.warmup);
  double progress = double(step - o.warmup) / double(span);
  return 0.5 * o.lr * (1.0 + std::cos(M_PI * std::min(1.0, progress)));
}

/// Bits of every static float/int tensor constant reachable from `f`'s body.
double constantBits(func::FuncOp f, double &floatParams) {
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

} // namespace

static int runTrainingImpl(const TrainOptions &o, std::string *modelOut,
                           double *lossOut);

int runTraining(const TrainOptions &o) {
  gErrorSink = nullptr;
  return runTrainingImpl(o, nullptr, nullptr);
}

int runTraining(const TrainOptions &o, std::string &error,
                std::string *modelPath, double *finalLoss) {
  error.clear();
  gErrorSink = &error;
  int rc = runTrainingImpl(o, modelPath, finalLoss);
  gErrorSink = nullptr;
  if (rc != 0 && error.empty())
    error = "training failed";
  return rc;
}

static int runTrainingImpl(const TrainOptions &o, std::string *modelOut,
                           double *lossOut) {
  if (o.teacherPath.empty())
    return fail("--teacher is required");
  if (!llvm::sys::fs::exists(o.teacherPath))
    return fail("teacher model '" + o.teacherPath + "' does not exist");
  if (o.outDir.empty())
    return fail("--out DIR is required");
  if (o.steps <= 0)
    return fail("--steps must be positive");
  if (!(o.lr > 0) || !std::isfinite(o.lr))
    return fail("--lr must be a positive number");
  if (o.init != "nmf" && o.init != "svd" && o.init != "mean")
    return fail("--init must be nmf, svd or mean (got '" + o.init + "')");
  if (std::error_code ec = llvm::sys::fs::create_directories(o.outDir))
    return fail("cannot create " + o.outDir + ": " + ec.message());
  setNumThreads(o.threads);

  DialectRegistry registry;
  registerModelDialects(registry);
  MLIRContext ctx(registry);
  ctx.loadAllAvailableDialects();
  Diags diags(ctx);

  // The tokenizer first: a bad one fails before the slow step compilation.
  // A GGUF teacher carries its own: text is tokenized with it unless
  // --tokenizer names another.
  std::unique_ptr<BPETokenizer> tokenizer;
  std::string tokenizerPath = o.tokenizerPath;
  if (tokenizerPath.empty() && carriesTokenizer(o.teacherPath) &&
      llvm::StringRef(o.data).starts_with("text:"))
    tokenizerPath = o.teacherPath;
  if (!tokenizerPath.empty()) {
    if (!llvm::StringRef(o.data).starts_with("text:"))
      return fail("--tokenizer applies to --data text:FILE only");
    std::string terr;
    tokenizer = loadTokenizer(tokenizerPath, terr);
    if (!tokenizer)
      return fail(terr);
  }

  // 1. The teacher, with static [batch, seq] token ids.
  OwningOpRef<ModuleOp> fp;
  llvm::StringRef path(o.teacherPath);
  ModelLoadOptions lo;
  if (path.ends_with(".onnx")) {
    // Imported twice when the token ids are dynamic: the first import names
    // the input and its dims, the second fixes them.
    fp = loadModel(path, ctx, lo);
    if (fp) {
      auto f = *fp->getOps<func::FuncOp>().begin();
      auto t = dyn_cast<RankedTensorType>(f.getArgumentTypes()[0]);
      auto name = f.getArgAttrOfType<StringAttr>(0, "onebit.name");
      if (t && name && !t.hasStaticShape() && t.getRank() == 2) {
        int64_t b = o.batch ? o.batch : t.getDimSize(0);
        int64_t s = o.seqLen ? o.seqLen : t.getDimSize(1);
        if (ShapedType::isDynamic(b) || ShapedType::isDynamic(s))
          return fail("the teacher's input '" + name.str() +
                      "' has dynamic dims: give --batch and --seq-len");
        lo.onnx.inputShapes[name.getValue()] = {b, s};
        fp = loadModel(path, ctx, lo);
      }
    }
  } else if (path.ends_with(".gguf")) {
    if (!o.batch || !o.seqLen)
      return fail("a GGUF teacher has dynamic token ids: give --batch and "
                  "--seq-len");
    lo.gguf.batch = o.batch;
    lo.gguf.seqLen = o.seqLen;
    fp = loadModel(path, ctx, lo);
  } else {
    fp = loadModel(path, ctx, lo);
  }
  if (!fp)
    return fail("cannot load the teacher '" + o.teacherPath + "':\n" +
                diags.text());
  func::FuncOp main;
  for (auto f : fp->getOps<func::FuncOp>())
    if (f.isPublic() && !f.isExternal()) {
      if (main)
        return fail("the teacher has several public functions; keep only "
                    "the forward function");
      main = f;
    }
  if (!main || main.getNumArguments() != 1 || main.getNumResults() < 1)
    return fail("the teacher must have one public function taking token ids "
                "[batch, seq] and returning logits [batch, seq, vocab]");
  auto idsType = dyn_cast<RankedTensorType>(main.getArgumentTypes()[0]);
  auto logitsType = dyn_cast<RankedTensorType>(main.getResultTypes()[0]);
  if (!idsType || idsType.getRank() != 2 ||
      !idsType.getElementType().isInteger(64) || !idsType.hasStaticShape())
    return fail("the teacher's input must be static i64 token ids [batch, "
                "seq]");
  if (!logitsType || logitsType.getRank() != 3 || !logitsType.hasStaticShape())
    return fail("the teacher's result #0 must be static logits [batch, seq, "
                "vocab]");
  const int64_t batch = idsType.getDimSize(0), seqLen = idsType.getDimSize(1),
                vocab = logitsType.getDimSize(2);
  if (o.batch && o.batch != batch)
    return fail("--batch " + std::to_string(o.batch) +
                " does not match the model's static batch " +
                std::to_string(batch));
  if (o.seqLen && o.seqLen != seqLen)
    return fail("--seq-len " + std::to_string(o.seqLen) +
                " does not match the model's static sequence length " +
                std::to_string(seqLen));
  std::string fname = main.getSymName().str();
  // A teacher imported from GGUF (or a model trained from one) carries its
  // tokenizer: its text is tokenized with it, as with the .gguf itself.
  if (!tokenizer && llvm::StringRef(o.data).starts_with("text:")) {
    std::string terr;
    tokenizer = tokenizerOf(*fp, terr);
    if (!terr.empty())
      return fail(o.teacherPath + ": " + terr);
  }

  // 2. The train step.
  OwningOpRef<ModuleOp> stepModule(cast<ModuleOp>(fp->getOperation()->clone()));
  {
    PassManager pm(&ctx);
    mlir::onebit::OneBitQuantizeOptions quantize;
    quantize.init = o.init;
    quantize.keepTeacher = true;
    pm.addPass(mlir::onebit::createOneBitQuantize(quantize));
    mlir::onebit::OneBitBuildTrainStepOptions trainStep;
    trainStep.alpha = o.alpha;
    trainStep.weightDecay = o.weightDecay;
    trainStep.mseLastLayer = o.mseLastLayer;
    if (!o.trainable.empty()) {
      llvm::SmallVector<llvm::StringRef> names;
      llvm::StringRef(o.trainable).split(names, ',');
      for (llvm::StringRef name : names)
        trainStep.trainable.push_back(name.str());
    }
    pm.addPass(mlir::onebit::createOneBitBuildTrainStep(trainStep));
    if (failed(pm.run(*stepModule)))
      return fail("cannot build the train step:\n" + diags.text());
  }
  // The hidden states L_MSE compares (recorded by the pass), for the log.
  std::string mseTaps;
  if (auto lossFn = stepModule->lookupSymbol<func::FuncOp>(fname + "_kd_loss"))
    if (auto taps = lossFn->getAttrOfType<ArrayAttr>("onebit.hidden_states");
        taps && !taps.empty()) {
      auto names = llvm::to_vector(taps.getAsValueRange<StringAttr>());
      mseTaps = std::to_string(names.size()) + " hidden state" +
                (names.size() == 1 ? "" : "s") + " (" + names.front().str() +
                (names.size() > 1 ? " ... " + names.back().str() : "") + ")";
    }
  OwningOpRef<ModuleOp> packSource(
      cast<ModuleOp>(stepModule->getOperation()->clone()));
  std::string error;
  auto step = CompiledModel::compile(
      std::move(stepModule),
      std::vector<std::string>{fname + "_train_step", fname + "_train_init"},
      error, o.target, o.compile);
  if (!step)
    return fail(o.target == Target::Cuda
                    ? "--device=cuda: " + error
                    : "cannot compile the train step: " + error);
  if (!o.quiet) {
    llvm::errs() << "onebit-train: train step compiled for "
                 << targetName(step->target()) << " in "
                 << llvm::format("%.1f", step->compileMillis() / 1000.0)
                 << " s";
    if (step->gpuKernels())
      llvm::errs() << " (" << step->gpuKernels() << " GPU kernels)";
    llvm::errs() << "\n";
    if (mseTaps.empty())
      llvm::errs() << "onebit-train: L_KD = L_CE (alpha 0)\n";
    else
      llvm::errs() << "onebit-train: L_KD = L_CE + " << fmt(o.alpha)
                   << " * L_MSE over " << mseTaps << "\n";
  }

  // 3. Data.
  HostTensor data;
  std::string dataPath = o.outDir + "/data.npy";
  llvm::StringRef spec(o.data);
  if (spec.consume_front("tokens:")) {
    if (!readNpy(spec.str(), data, error))
      return fail(error);
    if (data.dtype != DType::I64 || data.shape.size() != 2 ||
        data.shape[1] != seqLen || data.shape[0] < 1)
      return fail("--data tokens: needs an int64 array [N, " +
                  std::to_string(seqLen) + "]");
  } else if (spec.consume_front("text:")) {
    // Byte-level tokens, or o.tokenizerPath's BPE ids.
    std::vector<int64_t> bytes;
    const char *unit = "bytes";
    if (tokenizer) {
      auto buf = llvm::MemoryBuffer::getFile(spec);
      if (!buf)
        return fail("cannot read '" + spec.str() + "'");
      llvm::StringRef txt = (*buf)->getBuffer();
      std::vector<int32_t> ids =
          tokenizer->encode(std::string_view(txt.data(), txt.size()));
      bytes.assign(ids.begin(), ids.end());
      unit = "tokens";
    } else if (!readByteTokens(spec.str(), bytes, error))
      return fail(error);
    const int64_t n = int64_t(bytes.size()) / seqLen;
    if (n < 1)
      return fail("--data text: '" + spec.str() + "' has " +
                  std::to_string(bytes.size()) + " " + unit +
                  ", fewer than one sequence of " +
                  std::to_string(seqLen));
    data.dtype = DType::I64;
    data.shape = {n, seqLen};
    data.data.resize(size_t(n * seqLen) * 8);
    std::memcpy(data.data.data(), bytes.data(), data.data.size());
  } else if (spec.consume_front("gen:")) {
    int64_t n;
    if (spec.getAsInteger(10, n) || n <= 0)
      return fail("--data gen:N needs a positive N");
    if (llvm::sys::fs::exists(dataPath) && readNpy(dataPath, data, error) &&
        data.dtype == DType::I64 && data.shape.size() == 2 &&
        data.shape[0] == n && data.shape[1] == seqLen) {
      if (!o.quiet)
        llvm::errs() << "onebit-train: reusing " << dataPath << "\n";
    } else {
      OwningOpRef<ModuleOp> gen(cast<ModuleOp>(fp->getOperation()->clone()));
      auto teacher = CompiledModel::compile(std::move(gen), fname, error,
                                            Target::Cpu, o.compile);
      if (!teacher)
        return fail("cannot compile the teacher: " + error);
      if (!o.quiet)
        llvm::errs() << "onebit-train: generating " << n
                   << " sequences from the teacher\n";
      if (!generateData(*teacher, n, batch, seqLen, vocab, o.seed, o.quiet,
                        data, error))
        return fail(error);
      if (!writeNpy(dataPath + ".tmp", data, error) ||
          std::rename((dataPath + ".tmp").c_str(), dataPath.c_str()) != 0)
        return fail("cannot write " + dataPath + ": " + error);
    }
  } else {
    return fail("--data must be gen:N, text:FILE or tokens:FILE.npy (got '" +
                o.data + "')");
  }
  const int64_t numSeq = data.shape[0];
  for (int64_t i = 0, e = data.numElements(); i < e; ++i) {
    int64_t v;
    std::memcpy(&v, data.data.data() + i * 8, 8);
    if (v < 0 || v >= vocab)
      return fail("token id " + std::to_string(v) + " in the data is outside "
                  "the vocabulary [0, " + std::to_string(vocab) + ")");
  }

  // 4. State: parameters from @f_train_init or the checkpoint.
  const CompiledModel::Entry *initEntry = step->find(fname + "_train_init");
  const size_t numParams = initEntry->results.size();
  std::vector<HostTensor> params, m, v;
  std::vector<std::string> names;
  for (const TensorSignature &s : initEntry->results)
    names.push_back(s.name);
  int64_t startStep = 0;
  std::string ckptPath = o.outDir + "/checkpoint.bin";
  if (o.resume && llvm::sys::fs::exists(ckptPath)) {
    Checkpoint c;
    if (!readCheckpoint(ckptPath, c, error))
      return fail(error);
    if (c.tensors.size() != 3 * numParams)
      return fail(ckptPath + " holds " + std::to_string(c.tensors.size()) +
                  " tensors, this model needs " +
                  std::to_string(3 * numParams));
    for (size_t i = 0; i < numParams; ++i) {
      if (c.names[i] != names[i] ||
          c.tensors[i].shape != initEntry->results[i].shape)
        return fail(ckptPath + " does not belong to this model (tensor '" +
                    c.names[i] + "')");
      params.push_back(c.tensors[i]);
      m.push_back(c.tensors[numParams + i]);
      v.push_back(c.tensors[2 * numParams + i]);
    }
    startStep = c.step;
    if (!o.quiet)
      llvm::errs() << "onebit-train: resuming after step " << startStep
                   << "\n";
  } else {
    if (!step->run(fname + "_train_init", {}, params, error))
      return fail(error);
    for (const HostTensor &p : params) {
      HostTensor z = p;
      std::fill(z.data.begin(), z.data.end(), 0);
      m.push_back(z);
      v.push_back(z);
    }
  }
  if (!o.quiet) {
    int64_t values = 0, fpTensors = 0;
    for (size_t i = 0; i < numParams; ++i) {
      values += params[i].numElements();
      llvm::StringRef n(names[i]);
      fpTensors += !(n.ends_with(".latent") || n.ends_with(".g") ||
                     n.ends_with(".h"));
    }
    llvm::errs() << "onebit-train: " << numParams << " parameter tensors ("
                 << values << " values), " << fpTensors
                 << " of them full precision\n";
  }

  // The JSONL log, cut back to the resumed step.
  std::string logPath = o.outDir + "/train.jsonl";
  {
    std::vector<std::string> keep;
    if (startStep > 0) {
      std::ifstream in(logPath);
      std::string line;
      while (std::getline(in, line)) {
        auto at = line.find("\"step\":");
        if (at != std::string::npos &&
            std::atoll(line.c_str() + at + 7) <= startStep)
          keep.push_back(line);
      }
    }
    std::ofstream out(logPath, std::ios::trunc);
    for (const std::string &l : keep)
      out << l << "\n";
  }
  std::ofstream log(logPath, std::ios::app);

  auto save = [&](int64_t s) -> bool {
    Checkpoint c;
    c.step = s;
    for (int k = 0; k < 3; ++k)
      for (size_t i = 0; i < numParams; ++i) {
        c.names.push_back(names[i] + (k == 0 ? "" : k == 1 ? ".adam_m"
                                                           : ".adam_v"));
        c.tensors.push_back(k == 0 ? params[i] : k == 1 ? m[i] : v[i]);
      }
    return writeCheckpoint(ckptPath, c, error);
  };

  // 5. The loop.
  Progress progress(o.quiet, 0.0);
  double lastLoss = 0;
  for (int64_t s = startStep + 1; s <= o.steps; ++s) {
    // The batch of step s depends only on (seed, s): resume is exact.
    std::mt19937_64 rng(o.seed * 0x9E3779B97F4A7C15ull + uint64_t(s));
    HostTensor ids;
    ids.dtype = DType::I64;
    ids.shape = {batch, seqLen};
    ids.data.resize(size_t(batch * seqLen) * 8);
    for (int64_t b = 0; b < batch; ++b) {
      int64_t row = int64_t(rng() % uint64_t(numSeq));
      std::memcpy(ids.data.data() + b * seqLen * 8,
                  data.data.data() + row * seqLen * 8, size_t(seqLen) * 8);
    }
    double lr = scheduleLr(o, s);
    std::vector<HostTensor> in;
    in.reserve(3 * numParams + 3);
    for (auto *group : {&params, &m, &v})
      for (HostTensor &t : *group)
        in.push_back(std::move(t));
    in.push_back(ids);
    in.push_back(scalarF32(float(lr)));
    in.push_back(scalarF32(float(s)));
    auto ts = std::chrono::steady_clock::now();
    std::vector<HostTensor> out;
    if (!step->run(fname + "_train_step", in, out, error))
      return fail(error);
    double secs = std::chrono::duration<double>(
                      std::chrono::steady_clock::now() - ts)
                      .count();
    float loss = getScalar(out[3 * numParams]),
          ce = getScalar(out[3 * numParams + 1]),
          mse = getScalar(out[3 * numParams + 2]);
    if (!std::isfinite(loss) || !std::isfinite(ce) || !std::isfinite(mse)) {
      progress.end();
      return fail("the loss is not finite at step " + std::to_string(s) +
                  " (loss " + fmt(loss) + ", l_ce " + fmt(ce) + ", l_mse " +
                  fmt(mse) + "); the last good checkpoint is " + ckptPath +
                  "; try a lower --lr");
    }
    // The state was moved into `in`; the step's results replace it.
    for (size_t i = 0; i < numParams; ++i) {
      params[i] = std::move(out[i]);
      m[i] = std::move(out[numParams + i]);
      v[i] = std::move(out[2 * numParams + i]);
    }
    lastLoss = loss;
    double tokS = double(batch * seqLen) / secs;
    log << "{\"step\":" << s << ",\"lr\":" << fmt(lr) << ",\"loss\":"
        << fmt(loss) << ",\"l_ce\":" << fmt(ce) << ",\"l_mse\":" << fmt(mse)
        << ",\"seconds\":" << fmt(secs) << ",\"tokens_per_s\":" << fmt(tokS)
        << "}\n";
    log.flush();
    const double eta = progress.eta(s - startStep, o.steps - startStep);
    progress.update("step " + std::to_string(s) + "/" +
                       std::to_string(o.steps) + " loss " + fmt(loss) +
                       " l_ce " + fmt(ce) + " l_mse " + fmt(mse) + " lr " +
                       fmt(lr) + " tok/s " + fmt(std::round(tokS)) + " eta " +
                       fmt(std::round(eta)) + "s");
    bool keepGoing = true;
    if (o.onStep) {
      TrainStepInfo info;
      info.step = s;
      info.lr = lr;
      info.loss = loss;
      info.lossCE = ce;
      info.lossMSE = mse;
      info.seconds = secs;
      keepGoing = o.onStep(info);
    }
    if ((o.checkpointEvery > 0 && s % o.checkpointEvery == 0) ||
        s == o.steps || !keepGoing) {
      if (!save(s))
        return fail(error);
    }
    if (o.killAfter == s)
      ::kill(::getpid(), SIGKILL);
    if (!keepGoing)
      break;
  }
  progress.end();

  // 6. The packed 1-bit model: the student with its trained parameters as
  // constants, packed by --onebit-pack-trained.
  auto student = dyn_cast_or_null<func::FuncOp>(
      SymbolTable::lookupSymbolIn(*packSource, fname + "_student"));
  if (!student)
    return fail("internal: no @" + fname + "_student");
  {
    OpBuilder b = OpBuilder::atBlockBegin(&student.getBody().front());
    for (size_t i = 0; i < numParams; ++i) {
      auto type = cast<RankedTensorType>(student.getArgument(i).getType());
      llvm::ArrayRef<char> bytes(params[i].data.data(), params[i].data.size());
      Value c = arith::ConstantOp::create(
          b, NameLoc::get(StringAttr::get(&ctx, names[i])), type,
          mlir::onebit::makeResource(type, names[i], bytes));
      student.getArgument(i).replaceAllUsesWith(c);
    }
    llvm::BitVector erase(student.getNumArguments());
    erase.set(0, numParams);
    if (failed(student.eraseArguments(erase)))
      return fail("internal: cannot drop the parameter arguments");
    SmallVector<Operation *> others;
    for (Operation &op : packSource->getBody()->getOperations())
      if (&op != student.getOperation())
        others.push_back(&op);
    for (Operation *op : others)
      op->erase();
    student.setSymName(fname);
    student.setPublic();
    PassManager pm(&ctx);
    pm.addPass(mlir::onebit::createOneBitPackTrained());
    pm.addPass(mlir::createCanonicalizerPass());
    pm.addPass(mlir::createCSEPass());
    if (failed(pm.run(*packSource)))
      return fail("cannot pack the trained model:\n" + diags.text());
  }
  std::string modelPath = o.outDir + "/model.mlirbc";
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(modelPath + ".tmp", ec);
    if (ec)
      return fail("cannot write " + modelPath + ": " + ec.message());
    if (failed(writeBytecodeToFile(*packSource, os)))
      return fail("cannot write " + modelPath);
    os.close();
    if (std::rename((modelPath + ".tmp").c_str(), modelPath.c_str()) != 0)
      return fail("cannot rename the model into " + modelPath);
  }
  double fpParams = 0, q = 0;
  double fpBits = constantBits(main, fpParams);
  auto packed = *packSource->getOps<func::FuncOp>().begin();
  double oneBits = constantBits(packed, q);
  int64_t linearWeights = 0;
  double linearBits = 0;
  packed.walk([&](mlir::onebit::BinaryLinearOp op) {
    int64_t n = op.getOutFeatures(), k = op.getInFeatures();
    linearWeights += n * k;
    linearBits += double(n * k) +
                  32.0 * double(n + k); // signs + f32 g, h (upper bound)
  });
  if (modelOut)
    *modelOut = modelPath;
  if (lossOut)
    *lossOut = lastLoss;
  if (o.quiet)
    return 0;
  llvm::outs() << "onebit-train: " << o.steps << " steps, final loss "
               << fmt(lastLoss) << "\n";
  llvm::outs() << "onebit-train: wrote " << modelPath << "\n";
  llvm::outs() << llvm::format(
      "size: FP %.0f bytes of constants -> 1-bit %.0f bytes (%.2fx smaller); "
      "model %.3f bits/weight; 1-bit linear layers %.3f bits/weight (%lld "
      "weights)\n",
      fpBits / 8, oneBits / 8, fpBits / std::max(oneBits, 1.0),
      oneBits / std::max(fpParams, 1.0),
      linearBits / std::max<double>(double(linearWeights), 1.0),
      static_cast<long long>(linearWeights));
  // What the deployment step would make of it: the layers OneBit keeps in FP
  // (embedding, head) in weight-only int8.
  {
    OwningOpRef<ModuleOp> copy(
        cast<ModuleOp>(packSource->getOperation()->clone()));
    PassManager pm(&ctx);
    pm.addPass(mlir::onebit::createOneBitInt8Weights());
    if (succeeded(pm.run(*copy))) {
      double e = 0;
      double deployBits =
          constantBits(*copy->getOps<func::FuncOp>().begin(), e);
      llvm::outs() << llvm::format(
          "deploy: onebit-opt --onebit-int8-weights (FP embedding/head in "
          "weight-only int8) -> %.0f bytes (%.2fx smaller than FP); model "
          "%.3f bits/weight\n",
          deployBits / 8, fpBits / std::max(deployBits, 1.0),
          deployBits / std::max(fpParams, 1.0));
    }
  }
  return 0;
}

} // namespace onebit
