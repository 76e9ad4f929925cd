//===- TrainSession.cpp - one training run: state, steps, checkpoints -----===//

#include "TrainData.h"
#include "TrainLog.h"
#include "TrainProgram.h"

#include "onebit/Frontend/ModelLoader.h"
#include "onebit/Runtime/Generator.h"
#include "onebit/Target/GGUF/ImportGGUF.h"
#include "onebit/Tokenizer/TokenizerLoader.h"
#include "onebit/Training/Checkpoint.h"
#include "onebit/Training/Trainer.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cmath>
#include <cstring>

using namespace mlir;

namespace onebit {
namespace {

TrainError plain(std::string message) {
  return TrainError{TrainOption::None, std::move(message)};
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

/// Linear warm-up to `lr`, then a cosine decay to 0 at the last step.
double scheduleLr(const TrainOptions &o, int64_t step) {
  if (o.warmup > 0 && step <= o.warmup)
    return o.lr * double(step) / double(o.warmup);
  int64_t span = std::max<int64_t>(1, o.steps - o.warmup);
  double progress = double(step - o.warmup) / double(span);
  return 0.5 * o.lr * (1.0 + std::cos(M_PI * std::min(1.0, progress)));
}

} // namespace

struct TrainSession::Impl {
  TrainOptions o;
  TrainCallbacks callbacks;
  std::unique_ptr<MLIRContext> ctx;
  std::unique_ptr<DiagnosticCapture> diags;
  std::unique_ptr<BPETokenizer> tokenizer;
  Teacher teacher;
  /// A copy of the train step module, packed into the model by finish().
  OwningOpRef<ModuleOp> program;
  bool packed = false;
  std::unique_ptr<CompiledModel> step;
  HostTensor data;
  /// The state: parameters and the optimizer's moments, by parameter name.
  std::vector<std::string> names;
  std::vector<HostTensor> params, m, v;
  int64_t current = 0, startStep = 0, checkpointed = -1;
  double lastLoss = 0;
  std::string ckptPath;
  StepLog log;

  void note(const std::string &line) {
    if (callbacks.note)
      callbacks.note(line);
  }
  std::string entry(const char *suffix) const {
    return teacher.function + suffix;
  }

  bool create(TrainError &error);
  bool loadTokenizerAndTeacher(TrainError &error);
  bool compileStep(TrainError &error);
  bool loadData(TrainError &error);
  bool initState(TrainError &error);
  bool runStep(TrainStepInfo &info, TrainError &error);
  bool save(TrainError &error);
};

bool TrainSession::Impl::create(TrainError &error) {
  if (!validateTrainOptions(o, error))
    return false;
  if (!llvm::sys::fs::exists(o.teacherPath)) {
    error = plain("teacher model '" + o.teacherPath + "' does not exist");
    return false;
  }
  if (std::error_code ec = llvm::sys::fs::create_directories(o.outDir)) {
    error = plain("cannot create " + o.outDir + ": " + ec.message());
    return false;
  }
  setNumThreads(o.threads);
  DialectRegistry registry;
  registerModelDialects(registry);
  ctx = std::make_unique<MLIRContext>(registry);
  ctx->loadAllAvailableDialects();
  diags = std::make_unique<DiagnosticCapture>(
      *ctx, DiagnosticCaptureOptions{/*errorsOnly=*/true, /*withNotes=*/false,
                                     /*compilerStyle=*/false});
  ckptPath = o.outDir + "/checkpoint.bin";
  return loadTokenizerAndTeacher(error) && compileStep(error) &&
         loadData(error) && initState(error) &&
         log.open(o.outDir + "/train.jsonl", startStep, error.detail);
}

bool TrainSession::Impl::loadTokenizerAndTeacher(TrainError &error) {
  // The tokenizer first: a bad one fails before the slow step compilation.
  // A GGUF teacher carries its own: text is tokenized with it unless
  // tokenizerPath names another.
  const bool text = llvm::StringRef(o.data).starts_with("text:");
  std::string path = o.tokenizerPath;
  if (path.empty() && text && carriesTokenizer(o.teacherPath))
    path = o.teacherPath;
  if (!path.empty()) {
    tokenizer = loadTokenizer(path, error.detail);
    if (!tokenizer)
      return false;
  }
  if (!loadTeacher(*ctx, *diags, o, teacher, error))
    return false;
  // A teacher imported from GGUF (or a model trained from one) carries its
  // tokenizer: its text is tokenized with it, as with the .gguf itself.
  if (!tokenizer && text) {
    std::string terr;
    tokenizer = tokenizerOf(*teacher.module, terr);
    if (!terr.empty()) {
      error = plain(o.teacherPath + ": " + terr);
      return false;
    }
  }
  return true;
}

bool TrainSession::Impl::compileStep(TrainError &error) {
  std::string mseTaps;
  OwningOpRef<ModuleOp> stepModule =
      buildTrainStep(teacher, o, *diags, mseTaps, error);
  if (!stepModule)
    return false;
  program = OwningOpRef<ModuleOp>(
      cast<ModuleOp>(stepModule->getOperation()->clone()));
  std::string err;
  step = CompiledModel::compile(
      std::move(stepModule),
      std::vector<std::string>{entry("_train_step"), entry("_train_init")},
      err, o.target, o.compile);
  if (!step) {
    error = o.target == Target::Cuda
                ? TrainError{TrainOption::Device,
                             std::string(targetName(o.target)) + ": " + err}
                : plain("cannot compile the train step: " + err);
    return false;
  }
  std::string line;
  llvm::raw_string_ostream os(line);
  os << "train step compiled for " << targetName(step->target()) << " in "
     << llvm::format("%.1f", step->compileMillis() / 1000.0) << " s";
  if (step->gpuKernels())
    os << " (" << step->gpuKernels() << " GPU kernels)";
  note(line);
  note(mseTaps.empty() ? std::string("L_KD = L_CE (alpha 0)")
                       : "L_KD = L_CE + " + formatNumber(o.alpha) +
                             " * L_MSE over " + mseTaps);
  return true;
}

bool TrainSession::Impl::loadData(TrainError &error) {
  DataSpec spec;
  if (!parseDataSpec(o.data, spec, error))
    return false;
  const int64_t seqLen = teacher.seqLen;
  if (spec.kind == DataSpec::Tokens) {
    if (!readTokenData(spec.path, seqLen, data, error))
      return false;
  } else if (spec.kind == DataSpec::Text) {
    if (!readTextData(spec.path, seqLen, tokenizer.get(), data, error))
      return false;
  } else {
    const std::string cache = o.outDir + "/data.npy";
    if (readDataCache(cache, spec.count, seqLen, data)) {
      note("reusing " + cache);
    } else {
      // Generated on the CPU whatever the step's target. A GGUF teacher is
      // imported again with its KV-cache entries, so each token is one
      // decode step (docs/training.md); other teachers rerun the window.
      const bool cached = llvm::StringRef(o.teacherPath).ends_with(".gguf");
      OwningOpRef<ModuleOp> gen;
      std::string err;
      if (cached) {
        ModelLoadOptions lo;
        lo.gguf.kvCache = true;
        gen = loadModel(o.teacherPath, *teacher.module->getContext(), lo,
                        err);
      } else {
        gen = OwningOpRef<ModuleOp>(
            cast<ModuleOp>(teacher.module->getOperation()->clone()));
      }
      std::unique_ptr<CompiledModel> model;
      if (gen)
        model = cached ? CompiledModel::compile(
                             std::move(gen),
                             std::vector<std::string>{kPrefillEntry,
                                                      kDecodeEntry},
                             err, Target::Cpu, o.compile)
                       : CompiledModel::compile(std::move(gen),
                                                teacher.function, err,
                                                Target::Cpu, o.compile);
      if (!model) {
        error = plain("cannot compile the teacher: " + err);
        return false;
      }
      note("generating " + std::to_string(spec.count) +
           " sequences from the teacher" +
           (cached ? " (KV cache)" : ""));
      if (callbacks.generated)
        callbacks.generated(0, spec.count);
      bool ok = cached ? generateDataCached(*model, spec.count, teacher.batch,
                                            seqLen, teacher.vocab, o.seed,
                                            callbacks.generated, data,
                                            error.detail)
                       : generateData(*model, spec.count, teacher.batch,
                                      seqLen, teacher.vocab, o.seed,
                                      callbacks.generated, data,
                                      error.detail);
      if (!ok || !writeDataCache(cache, data, error.detail))
        return false;
    }
  }
  return checkVocabulary(data, teacher.vocab, error);
}

bool TrainSession::Impl::initState(TrainError &error) {
  // Parameters from @F_train_init or from the checkpoint.
  const CompiledModel::Entry *init = step->find(entry("_train_init"));
  const size_t numParams = init->results.size();
  for (const TensorSignature &s : init->results)
    names.push_back(s.name);
  if (o.resume && llvm::sys::fs::exists(ckptPath)) {
    Checkpoint c;
    if (!readCheckpoint(ckptPath, c, error.detail))
      return false;
    if (c.tensors.size() != 3 * numParams) {
      error = plain(ckptPath + " holds " + std::to_string(c.tensors.size()) +
                    " tensors, this model needs " +
                    std::to_string(3 * numParams));
      return false;
    }
    for (size_t i = 0; i < numParams; ++i) {
      if (c.names[i] != names[i] ||
          c.tensors[i].shape != init->results[i].shape) {
        error = plain(ckptPath + " does not belong to this model (tensor '" +
                      c.names[i] + "')");
        return false;
      }
      params.push_back(std::move(c.tensors[i]));
      m.push_back(std::move(c.tensors[numParams + i]));
      v.push_back(std::move(c.tensors[2 * numParams + i]));
    }
    startStep = current = checkpointed = c.step;
    note("resuming after step " + std::to_string(startStep));
  } else {
    if (!step->run(entry("_train_init"), {}, params, error.detail))
      return false;
    for (const HostTensor &p : params) {
      HostTensor z = p;
      std::fill(z.data.begin(), z.data.end(), 0);
      m.push_back(z);
      v.push_back(z);
    }
  }
  int64_t values = 0, fpTensors = 0;
  for (size_t i = 0; i < numParams; ++i) {
    values += params[i].numElements();
    llvm::StringRef n(names[i]);
    fpTensors +=
        !(n.ends_with(".latent") || n.ends_with(".g") || n.ends_with(".h"));
  }
  note(std::to_string(numParams) + " parameter tensors (" +
       std::to_string(values) + " values), " + std::to_string(fpTensors) +
       " of them full precision");
  return true;
}

bool TrainSession::Impl::runStep(TrainStepInfo &info, TrainError &error) {
  const int64_t s = current + 1;
  const size_t numParams = params.size();
  const double lr = scheduleLr(o, s);
  std::vector<HostTensor> in;
  in.reserve(3 * numParams + 3);
  for (auto *group : {&params, &m, &v})
    for (HostTensor &t : *group)
      in.push_back(std::move(t));
  in.push_back(batchForStep(data, o.seed, s, teacher.batch));
  in.push_back(scalarF32(float(lr)));
  in.push_back(scalarF32(float(s)));
  auto start = std::chrono::steady_clock::now();
  std::vector<HostTensor> out;
  if (!step->run(entry("_train_step"), in, out, error.detail))
    return false;
  const double secs = std::chrono::duration<double>(
                          std::chrono::steady_clock::now() - start)
                          .count();
  const float loss = getScalar(out[3 * numParams]),
              ce = getScalar(out[3 * numParams + 1]),
              mse = getScalar(out[3 * numParams + 2]);
  if (!std::isfinite(loss) || !std::isfinite(ce) || !std::isfinite(mse)) {
    error = plain("the loss is not finite at step " + std::to_string(s) +
                  " (loss " + formatNumber(loss) + ", l_ce " +
                  formatNumber(ce) + ", l_mse " + formatNumber(mse) +
                  "); the last good checkpoint is " + ckptPath +
                  "; try a lower learning rate");
    return false;
  }
  // The state was moved into `in`; the step's results replace it.
  for (size_t i = 0; i < numParams; ++i) {
    params[i] = std::move(out[i]);
    m[i] = std::move(out[numParams + i]);
    v[i] = std::move(out[2 * numParams + i]);
  }
  current = s;
  lastLoss = loss;
  info = TrainStepInfo();
  info.step = s;
  info.lastStep = o.steps;
  info.startStep = startStep;
  info.lr = lr;
  info.loss = loss;
  info.lossCE = ce;
  info.lossMSE = mse;
  info.seconds = secs;
  info.tokensPerSecond = double(teacher.batch * teacher.seqLen) / secs;
  log.append(info);
  if ((o.checkpointEvery > 0 && s % o.checkpointEvery == 0) || s == o.steps)
    return save(error);
  return true;
}

bool TrainSession::Impl::save(TrainError &error) {
  Checkpoint c;
  c.step = current;
  const size_t numParams = params.size();
  for (int k = 0; k < 3; ++k)
    for (size_t i = 0; i < numParams; ++i) {
      c.names.push_back(names[i] + (k == 0   ? ""
                                    : k == 1 ? ".adam_m"
                                             : ".adam_v"));
      c.tensors.push_back(k == 0 ? params[i] : k == 1 ? m[i] : v[i]);
    }
  if (!writeCheckpoint(ckptPath, c, error.detail))
    return false;
  checkpointed = current;
  return true;
}

TrainSession::TrainSession(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
TrainSession::~TrainSession() = default;

std::unique_ptr<TrainSession>
TrainSession::create(const TrainOptions &options,
                     const TrainCallbacks &callbacks, TrainError &error) {
  error = TrainError();
  auto impl = std::make_unique<Impl>();
  impl->o = options;
  impl->callbacks = callbacks;
  if (!impl->create(error))
    return nullptr;
  return std::unique_ptr<TrainSession>(new TrainSession(std::move(impl)));
}

int64_t TrainSession::currentStep() const { return impl_->current; }

bool TrainSession::done() const { return impl_->current >= impl_->o.steps; }

bool TrainSession::step(TrainStepInfo &info, TrainError &error) {
  error = TrainError();
  if (done() || impl_->packed) {
    error = plain("the run is over: step " + std::to_string(impl_->current) +
                  " of " + std::to_string(impl_->o.steps));
    return false;
  }
  return impl_->runStep(info, error);
}

bool TrainSession::checkpoint(TrainError &error) {
  error = TrainError();
  return impl_->checkpointed == impl_->current || impl_->save(error);
}

bool TrainSession::finish(TrainResult &result, TrainError &error) {
  error = TrainError();
  Impl &s = *impl_;
  if (!s.packed) {
    if (!packStudent(*s.program, s.teacher.function, s.names, s.params,
                     *s.diags, error.detail))
      return false;
    s.packed = true;
  }
  result.modelPath = s.o.outDir + "/model.mlirbc";
  result.steps = s.o.steps;
  result.finalLoss = s.lastLoss;
  return writeModel(*s.program, result.modelPath, error.detail);
}

TrainSizeReport TrainSession::sizeReport() {
  return impl_->packed ? measureSizes(impl_->teacher, *impl_->program)
                       : TrainSizeReport();
}

} // namespace onebit
