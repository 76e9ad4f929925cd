//===- TrainSession.cpp - one training run: state, steps, checkpoints -----===//

#include "DeviceTrainState.h"
#include "TrainData.h"
#include "TrainLog.h"
#include "TrainProgram.h"

#include "onebit/Distributed/BucketedAllReduce.h"
#include "onebit/Distributed/Communicator.h"
#include "onebit/Frontend/ModelLoader.h"
#include "onebit/Runtime/Allocator.h"
#include "onebit/Runtime/Generator.h"
#include "onebit/Target/GGUF/ImportGGUF.h"
#include "onebit/Tokenizer/TokenizerLoader.h"
#include "onebit/Training/Checkpoint.h"
#include "onebit/Training/Trainer.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <optional>
#include <tuple>

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

/// CPU seconds this process has used (all its threads).
double processCpuSeconds() {
  timespec t;
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t) != 0)
    return 0;
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

float getScalar(const HostTensor &t) {
  float v;
  std::memcpy(&v, t.data.data(), 4);
  return v;
}

/// A borrowed view of `n` floats at `p` with `shape`, for the runner's
/// runRefs / runRefsInto (no copy).
TensorRef floatRef(float *p, std::vector<int64_t> shape, size_t n) {
  TensorRef r;
  r.dtype = DType::F32;
  r.shape = std::move(shape);
  r.data = p;
  r.bytes = n * 4;
  return r;
}
/// A borrowed view of `t`.
TensorRef refOf(HostTensor &t) {
  TensorRef r;
  r.dtype = t.dtype;
  r.shape = t.shape;
  r.data = t.data.data();
  r.bytes = t.data.size();
  return r;
}

/// Linear warm-up to `lr`, then a cosine decay to 0 at the last step.
double scheduleLr(const TrainOptions &o, int64_t step) {
  if (o.warmup > 0 && step <= o.warmup)
    return o.lr * double(step) / double(o.warmup);
  int64_t span = std::max<int64_t>(1, o.steps - o.warmup);
  double progress = double(step - o.warmup) / double(span);
  return 0.5 * o.lr * (1.0 + std::cos(M_PI * std::min(1.0, progress)));
}

uint64_t fnv1a(const void *data, size_t bytes,
               uint64_t h = 0xcbf29ce484222325ull) {
  const auto *p = static_cast<const unsigned char *>(data);
  for (size_t i = 0; i < bytes; ++i)
    h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

/// A double as its exact bits, for the options' fingerprint.
std::string exact(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  return std::to_string(bits);
}

/// The checkpoint's record of a data-parallel layout (names start with
/// "train.", after the state's tensors).
constexpr const char *kLayoutTensor = "train.data_parallel";
constexpr const char *kRowsTensor = "train.rank_rows";

HostTensor i64Tensor(std::vector<int64_t> shape,
                     const std::vector<int64_t> &values) {
  HostTensor t;
  t.dtype = DType::I64;
  t.shape = std::move(shape);
  t.data.resize(values.size() * 8);
  std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

} // namespace

struct TrainSession::Impl {
  TrainOptions o;
  TrainCallbacks callbacks;
  std::unique_ptr<MLIRContext> ctx;
  std::unique_ptr<DiagnosticCapture> diags;
  std::unique_ptr<BPETokenizer> tokenizer;
  Teacher teacher;
  /// The teacher's constant bits and FP values, for sizeReport().
  double teacherBits = 0, teacherParams = 0;
  /// @F_student of the train step module and what it calls, packed into
  /// the model by finish().
  OwningOpRef<ModuleOp> program;
  /// The initial parameters, read from @F_train_init's constants when it
  /// returns constants (it is then not compiled), with their names.
  bool initRead = false;
  std::vector<std::string> initNames;
  std::vector<HostTensor> initValues;
  bool packed = false;
  std::unique_ptr<CompiledModel> step;
  HostTensor data;
  /// The state: parameters and the optimizer's moments, by parameter name.
  std::vector<std::string> names;
  std::vector<HostTensor> params, m, v;
  /// A GPU step updating in place: the state lives here between steps, and
  /// params/m/v are its host copy as of step `hostStep`.
  std::unique_ptr<DeviceTrainState> deviceState;
  int64_t hostStep = 0;
  int64_t current = 0, startStep = 0, checkpointed = -1;
  /// The process's CPU seconds when the current step began.
  double stepCpuStart = 0;
  double lastLoss = 0;
  std::string ckptPath;
  StepLog log;
  /// Data parallel: the communicator (null: this process alone), this
  /// rank, the number of ranks, and whether steps run the gradient and the
  /// update apart (a communicator, even of one rank, gradient accumulation
  /// or a sharded optimizer).
  Communicator *comm = nullptr;
  int rank = 0, ranks = 1;
  bool split = false;
  /// Where each parameter's gradient sits in the all-reduced buffer.
  std::vector<size_t> gradOffset;
  size_t gradElements = 0;
  /// The gradients of this rank's micro-batches are summed here (the
  /// gradient entry writes the first micro-batch's into it directly), then
  /// summed over the ranks in place, and the update reads it, scaled by
  /// 1 / (R * N) inside @F_apply_update.
  std::vector<float> reduceBuffer;
  /// The gradients of the second and later micro-batches, before they are
  /// added (--grad-accum > 1 only).
  std::vector<float> microGrads;
  /// CPU ranks (TrainOptions::bucketMB): the reduce buffer's gradients are
  /// all-reduced (sharded: reduce-scattered) in buckets during the
  /// backward; null: one collective after it.
  std::unique_ptr<BucketedAllReduce> buckets;
  /// ZeRO-1 (TrainOptions::shardOptimizer): this rank's slice [sliceLo,
  /// sliceHi) of the parameters laid end to end (gradOffset's layout), its
  /// block of the reduce-scatter (Communicator::blockOf). `m` and `v` then
  /// hold one 1-D tensor each, the slice's moments; @F_apply_update_slice
  /// updates the slice in the parameters themselves.
  bool shard = false;
  /// The runtime's block cache bound before this session raised it, in MiB
  /// (-1: not raised); put back when the session ends.
  int64_t previousAllocationCacheMb = -1;
  ~Impl() {
    if (previousAllocationCacheMb >= 0)
      onebit_runtime_set_allocation_cache_mb(previousAllocationCacheMb);
  }
  size_t sliceLo = 0, sliceHi = 0;

  bool root() const { return rank == 0; }

  void note(const std::string &line) {
    if (callbacks.note)
      callbacks.note(line);
  }
  void phase(llvm::StringRef name) {
    if (callbacks.phase)
      callbacks.phase(name);
  }
  std::string entry(const char *suffix) const {
    return teacher.function + suffix;
  }

  bool create(TrainError &error);
  bool loadTokenizerAndTeacher(TrainError &error);
  bool compileStep(TrainError &error);
  bool loadData(TrainError &error);
  bool loadLocalData(const DataSpec &spec, TrainError &error);
  bool initState(TrainError &error);
  void raiseAllocationCache(int64_t parameterValues);
  bool holdStateOnDevice(TrainError &error);
  bool stateToHost(bool moments, TrainError &error);
  bool runStep(TrainStepInfo &info, TrainError &error);
  bool runSplitStep(TrainStepInfo &info, TrainError &error);
  bool finishSplitStep(int64_t s, double lr, float loss, float ce, float mse,
                       std::chrono::steady_clock::time_point start,
                       TrainError &error, TrainStepInfo &info);
  /// Step s is done: the session moves to it, and its report gets the fields
  /// both step kinds share (rows: the sequences the step trained on).
  TrainStepInfo finishStep(int64_t s, double lr, float loss, float ce,
                           float mse, double secs, int64_t rows);
  /// Writes the checkpoint when step s is due for one.
  bool checkpointIfDue(int64_t s, TrainError &error);
  void setUpShards();
  bool gatherMoments(std::vector<HostTensor> &fullM,
                     std::vector<HostTensor> &fullV, TrainError &error);
  bool updateSlice(int64_t s, double lr, float scale, TrainError &error);
  /// Every rank's slice (`slice`: this rank's) laid end to end in `all`
  /// (gradElements values).
  bool gatherSlices(const float *slice, float *all, const std::string &what,
                    TrainError &error);
  bool save(TrainError &error);

  // Data parallel.
  bool checkSameOptions(TrainError &error);
  bool checkSameData(TrainError &error);
  bool shareData(bool ok, TrainError &error);
  bool collectiveFailed(const std::string &detail, TrainError &error) {
    error = plain(detail);
    return false;
  }
};

/// A CPU step's temporaries come from the runtime's block cache
/// (onebit/Runtime/Allocator.h), whose default bound (64 MiB) suits
/// inference. A train step frees and allocates far more every step
/// (SmolLM2-135M: about 1 GB); past the bound the blocks go back to malloc,
/// and each step page-faulted its temporaries in again (50k-250k faults a
/// step on SmolLM2, docs/training.md). For the run the bound is four times
/// the parameters' f32 bytes: the same sizes recur every step, so the cache
/// holds what the previous step freed, and the measured peak stayed the
/// same. A bound the user set higher is kept, and a cache turned off (0)
/// stays off. The bound is the process's: sessions one after another each
/// raise and restore it; of sessions running at once, the first to end puts
/// the old bound back (the others then run slower, not differently).
void TrainSession::Impl::raiseAllocationCache(int64_t parameterValues) {
  if (step->target() != Target::Cpu || previousAllocationCacheMb >= 0)
    return;
  const int64_t current = onebit_runtime_set_allocation_cache_mb(-1);
  const int64_t wanted = (parameterValues * 16) >> 20;
  if (current <= 0 || wanted <= current)
    return;
  previousAllocationCacheMb = onebit_runtime_set_allocation_cache_mb(wanted);
  note("the step's freed buffers are cached up to " +
       std::to_string(onebit_runtime_set_allocation_cache_mb(-1)) +
       " MiB for this run (was " + std::to_string(current) + " MiB)");
}

bool TrainSession::Impl::create(TrainError &error) {
  if (!validateTrainOptions(o, error))
    return false;
  comm = o.communicator;
  if (comm) {
    rank = comm->rank();
    ranks = comm->size();
  }
  // A communicator of one rank (mpirun -np 1, --distributed=nccl alone)
  // takes the path of R ranks, collectives included: what one GPU with an
  // NCCL communicator checks is then what a cluster runs.
  split = comm || o.gradAccum > 1 || o.shardOptimizer;
  shard = o.shardOptimizer;
  if (o.bf16Moments && split) {
    error = TrainError{TrainOption::Moments,
                       "bf16 applies to the fused step only, not to "
                       "data-parallel runs (" +
                           std::to_string(ranks) + " ranks)"};
    error.everyRank = true;
    return false;
  }
  // Before anything slow: a rank started with other options is refused.
  if (ranks > 1 && !checkSameOptions(error))
    return false;
  if (!llvm::sys::fs::exists(o.teacherPath)) {
    error = plain("teacher model '" + o.teacherPath + "' does not exist");
    return false;
  }
  // Only rank 0 writes into the output directory.
  if (root())
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
  auto compileStart = std::chrono::steady_clock::now();
  if (!loadTokenizerAndTeacher(error) || !compileStep(error))
    return false;
  // The ranks compiled on their own; the next collectives wait for the
  // slowest, which may take much longer than this one did (other machines,
  // shared cores): they are bounded by the timeout plus ten times this
  // rank's compile time, the steps' by the timeout.
  double timeout = comm ? comm->timeoutSeconds() : 0;
  if (comm)
    comm->setTimeoutSeconds(
        timeout + 10 * std::chrono::duration<double>(
                          std::chrono::steady_clock::now() - compileStart)
                          .count());
  bool ok = loadData(error);
  if (ok) {
    // The teacher is not run again: only the student's constants stay.
    teacher.module = nullptr;
    teacher.generator = nullptr;
    releaseUnusedConstants(*ctx, {*program});
    phase("data loaded");
    ok = initState(error) && holdStateOnDevice(error);
  }
  if (ok)
    phase("state initialised");
  if (comm)
    comm->setTimeoutSeconds(timeout);
  return ok && (!root() || log.open(o.outDir + "/train.jsonl", startStep,
                                    error.detail));
}

bool TrainSession::Impl::checkSameOptions(TrainError &error) {
  // Everything that changes what the run computes or where it writes;
  // not the thread count, which may differ between machines.
  const std::pair<const char *, std::string> options[] = {
      {"teacher path", o.teacherPath},
      {"SVID init", o.init},
      {"data", o.data},
      {"tokenizer", o.tokenizerPath},
      {"steps", std::to_string(o.steps)},
      {"batch size", std::to_string(o.batch)},
      {"sequence length", std::to_string(o.seqLen)},
      {"learning rate", exact(o.lr)},
      {"warm-up", std::to_string(o.warmup)},
      {"alpha", exact(o.alpha)},
      {"mse-last-layer", std::to_string(o.mseLastLayer)},
      {"weight decay", exact(o.weightDecay)},
      {"trainable weights", o.trainable},
      {"device", targetName(o.target)},
      {"output directory", o.outDir},
      {"resume", std::to_string(o.resume)},
      {"checkpoint period", std::to_string(o.checkpointEvery)},
      {"seed", std::to_string(o.seed)},
      {"gradient accumulation", std::to_string(o.gradAccum)},
      {"optimizer sharding", std::to_string(o.shardOptimizer)},
      {"activation checkpointing", std::to_string(o.checkpointActivations)},
      {"f16 teacher", std::to_string(o.f16Teacher)},
      {"bf16 moments", std::to_string(o.bf16Moments)},
      // The ranks' collectives must match: the same buckets, started
      // during the backward or not on every rank.
      {"all-reduce bucket size",
       exact(o.bucketMB) +
           (comm->collectivesFromAnyThread() ? " threads" : "")},
  };
  constexpr size_t n = std::size(options);
  // The count first: a rank running another build could list others.
  uint64_t mine[n + 1];
  mine[0] = n;
  for (size_t i = 0; i < n; ++i)
    mine[i + 1] = fnv1a(options[i].second.data(), options[i].second.size());
  std::vector<uint64_t> all(size_t(ranks) * (n + 1));
  std::string err;
  if (!comm->allGather(mine, sizeof(mine), all.data(), "the options check",
                       err))
    return collectiveFailed(err, error);
  std::string differ;
  for (int r = 1; r < ranks; ++r) {
    const uint64_t *theirs = all.data() + size_t(r) * (n + 1);
    std::string names;
    if (theirs[0] != all[0]) {
      names = "a different onebit-train";
    } else {
      for (size_t i = 0; i < n; ++i)
        if (theirs[i + 1] != all[i + 1])
          names += std::string(names.empty() ? "" : ", ") + options[i].first;
    }
    if (!names.empty())
      differ += (differ.empty() ? "" : "; ") + std::string("rank ") +
                std::to_string(r) + " (" + names + ")";
  }
  if (differ.empty())
    return true;
  error = plain("every rank must be given the same options; these differ "
                "from rank 0's: " +
                differ);
  error.everyRank = true;
  return false;
}

bool TrainSession::Impl::checkSameData(TrainError &error) {
  uint64_t mine[2] = {uint64_t(data.numElements()),
                      fnv1a(data.data.data(), data.data.size())};
  std::vector<uint64_t> all(size_t(ranks) * 2);
  std::string err;
  if (!comm->allGather(mine, sizeof(mine), all.data(), "the data check", err))
    return collectiveFailed(err, error);
  std::string differ;
  for (int r = 1; r < ranks; ++r)
    if (all[2 * r] != all[0] || all[2 * r + 1] != all[1])
      differ += (differ.empty() ? "" : ", ") + std::to_string(r);
  if (differ.empty())
    return true;
  error = plain("the data of rank(s) " + differ + " differ from rank 0's (" +
                o.data + " must be the same file on every machine)");
  error.everyRank = true;
  return false;
}

bool TrainSession::Impl::shareData(bool ok, TrainError &error) {
  // gen:N data are made once, by rank 0 (one random stream draws them all,
  // so they cannot be split without changing them), then sent to the
  // others, who wait for as long as the generation takes.
  const double timeout = comm->timeoutSeconds();
  comm->setTimeoutSeconds(std::max(timeout, 7 * 24 * 3600.0));
  int64_t header[3] = {ok ? 1 : 0, ok && root() ? data.shape[0] : 0,
                       ok && root() ? data.shape[1] : 0};
  std::string err;
  bool sent = comm->broadcast(header, sizeof(header), 0,
                              "the generated data's size", err);
  comm->setTimeoutSeconds(timeout);
  if (!sent)
    return collectiveFailed(err, error);
  if (!header[0]) {
    if (!root())
      error = plain("rank 0 could not make the " + o.data + " data");
    error.everyRank = true;
    return false;
  }
  if (!root()) {
    data.dtype = DType::I64;
    data.shape = {header[1], header[2]};
    data.data.assign(size_t(header[1] * header[2]) * 8, 0);
  }
  if (!comm->broadcast(data.data.data(), data.data.size(), 0,
                       "the generated data", err))
    return collectiveFailed(err, error);
  return true;
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
  measureTeacher(teacher, teacherBits, teacherParams);
  phase("teacher loaded");
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
      buildTrainStep(teacher, o, split, *diags, mseTaps, error);
  if (!stepModule)
    return false;
  phase("train step built");
  // The recomputing adjoints the autodiff made (one per layer form).
  int64_t forms = 0;
  stepModule->walk(
      [&](func::FuncOp f) { forms += f.getSymName().ends_with("_adj"); });
  // Only the student is packed at the end: the rest of the copy (the
  // teacher, the loss, the optimizer) would keep their constants alive.
  program = OwningOpRef<ModuleOp>(
      cast<ModuleOp>(stepModule->getOperation()->clone()));
  keepOnlyFunction(*program, entry("_student"));
  initRead = readTrainInit(*stepModule, teacher.function, initNames,
                           initValues);
  std::vector<std::string> entries =
      split ? std::vector<std::string>{entry("_kd_loss_grad"),
                                       entry(shard ? "_apply_update_slice"
                                                   : "_apply_update")}
            : std::vector<std::string>{entry("_train_step")};
  if (!initRead)
    entries.push_back(entry("_train_init"));
  std::string err;
  CompileOptions compile = o.compile;
  // Once translated to LLVM IR, the step's MLIR constants are no longer
  // read: their blobs are freed before code generation copies them again
  // (all but the student's, which are packed at the end, and the teacher's
  // while gen:N data may still run it).
  const bool teacherRuns =
      llvm::StringRef(o.data).starts_with("gen:") &&
      !llvm::StringRef(o.teacherPath).ends_with(".gguf");
  compile.onPhase = [this, teacherRuns,
                     report = o.compile.onPhase](const char *name) {
    if (report)
      report(name);
    if (llvm::StringRef(name) == "translated to LLVM IR") {
      std::vector<ModuleOp> keep{*program};
      if (teacherRuns)
        keep.push_back(*teacher.module);
      // The KV-cache entries share the teacher's blobs with the step (the
      // compiled step holds them too): keeping them costs nothing.
      if (teacher.generator)
        keep.push_back(*teacher.generator);
      releaseUnusedConstants(*ctx, keep);
    }
    phase(std::string("compile: ") + name);
  };
  step = CompiledModel::compile(std::move(stepModule), entries, err,
                                o.target, compile);
  if (!step) {
    error = o.target == Target::Cuda
                ? TrainError{TrainOption::Device,
                             std::string(targetName(o.target)) + ": " + err}
                : plain("cannot compile the train step: " + err);
    return false;
  }
  phase("train step compiled");
  std::string line;
  llvm::raw_string_ostream os(line);
  os << "train step compiled for " << targetName(step->target()) << " in "
     << llvm::format("%.1f", step->compileMillis() / 1000.0) << " s";
  if (step->gpuKernels())
    os << " (" << step->gpuKernels() << " GPU kernels)";
  note(line);
  if (o.checkpointActivations) {
    note("activation checkpointing: " + std::to_string(forms) +
         " layer form(s) recompute their forward in the backward");
  }
  note(mseTaps.empty() ? std::string("L_KD = L_CE (alpha 0)")
                       : "L_KD = L_CE + " + formatNumber(o.alpha) +
                             " * L_MSE over " + mseTaps);
  return true;
}

bool TrainSession::Impl::loadData(TrainError &error) {
  DataSpec spec;
  if (!parseDataSpec(o.data, spec, error))
    return false;
  if (ranks > 1 && spec.kind == DataSpec::Generated) {
    bool ok = !root() || loadLocalData(spec, error);
    if (!shareData(ok, error))
      return false;
  } else if (!loadLocalData(spec, error)) {
    return false;
  }
  if (!checkVocabulary(data, teacher.vocab, error))
    return false;
  return ranks == 1 || checkSameData(error);
}

bool TrainSession::Impl::loadLocalData(const DataSpec &spec,
                                       TrainError &error) {
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
      // Generated on the CPU whatever the step's target. A GGUF teacher
      // came with its KV-cache entries, which read the teacher's weights
      // (no second import), so each token is one decode step
      // (docs/training.md); other teachers rerun the window.
      const bool cached = bool(teacher.generator);
      OwningOpRef<ModuleOp> gen;
      std::string err;
      if (cached) {
        gen = std::move(teacher.generator);
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
  return true;
}

bool TrainSession::Impl::initState(TrainError &error) {
  // Parameters from @F_train_init or from the checkpoint (read by rank 0
  // alone and sent to the others).
  std::vector<std::vector<int64_t>> shapes;
  if (initRead) {
    names = initNames;
    for (const HostTensor &t : initValues)
      shapes.push_back(t.shape);
  } else {
    for (const TensorSignature &s :
         step->find(entry("_train_init"))->results) {
      names.push_back(s.name);
      shapes.push_back(s.shape);
    }
  }
  const size_t numParams = names.size();
  bool resumed = false, ok = true;
  if (root() && o.resume && llvm::sys::fs::exists(ckptPath)) {
    ok = [&] {
      Checkpoint c;
      if (!readCheckpoint(ckptPath, c, error.detail))
        return false;
      // A data-parallel run records its layout after the state.
      size_t stateTensors = c.tensors.size();
      while (stateTensors > 0 &&
             llvm::StringRef(c.names[stateTensors - 1]).starts_with("train."))
        --stateTensors;
      if (stateTensors != 3 * numParams) {
        error = plain(ckptPath + " holds " + std::to_string(stateTensors) +
                      " tensors, this model needs " +
                      std::to_string(3 * numParams));
        return false;
      }
      for (size_t i = 0; i < numParams; ++i) {
        if (c.names[i] != names[i] || c.tensors[i].shape != shapes[i]) {
          error = plain(ckptPath +
                        " does not belong to this model (tensor '" +
                        c.names[i] + "')");
          return false;
        }
        const DType momentType = o.bf16Moments ? DType::BF16 : DType::F32;
        for (size_t j : {numParams + i, 2 * numParams + i})
          if (c.tensors[j].dtype != momentType ||
              c.tensors[j].shape != shapes[i]) {
            error = plain(ckptPath + ": the Adam moment '" + c.names[j] +
                          "' is not " + (o.bf16Moments ? "bf16" : "f32") +
                          " of the parameter's shape (the run that wrote it "
                          "had other --moments)");
            return false;
          }
        params.push_back(std::move(c.tensors[i]));
        m.push_back(std::move(c.tensors[numParams + i]));
        v.push_back(std::move(c.tensors[2 * numParams + i]));
      }
      for (size_t i = stateTensors; i < c.tensors.size(); ++i)
        if (c.names[i] == kLayoutTensor && c.tensors[i].dtype == DType::I64 &&
            c.tensors[i].numElements() == 4) {
          int64_t l[4];
          std::memcpy(l, c.tensors[i].data.data(), sizeof(l));
          const int64_t global = int64_t(ranks) * o.gradAccum * teacher.batch;
          if (l[3] != global)
            note("the checkpoint's run had " + std::to_string(l[0]) +
                 " rank(s) x " + std::to_string(l[1]) + " micro-batch(es) x " +
                 std::to_string(l[2]) + " sequences per step; this one has " +
                 std::to_string(global) + " (" + std::to_string(ranks) +
                 " x " + std::to_string(o.gradAccum) + " x " +
                 std::to_string(teacher.batch) +
                 "): the global batch changes from step " +
                 std::to_string(c.step + 1));
        }
      startStep = current = checkpointed = c.step;
      resumed = true;
      return true;
    }();
  }
  if (ranks > 1) {
    int64_t header[2] = {ok ? 1 : 0, resumed ? startStep : -1};
    std::string err;
    if (!comm->broadcast(header, sizeof(header), 0, "the resume step", err))
      return collectiveFailed(err, error);
    if (!header[0]) {
      if (!root())
        error = plain("rank 0 could not resume from its checkpoint");
      error.everyRank = true;
      return false;
    }
    resumed = header[1] >= 0;
    if (resumed && !root())
      startStep = current = checkpointed = header[1];
  }
  if (!ok)
    return false;
  if (!resumed || !root()) {
    params.clear();
    if (initRead)
      params = std::move(initValues);
    else if (!step->run(entry("_train_init"), {}, params, error.detail))
      return false;
    m.clear();
    v.clear();
    // Sharded from the start: setUpShards makes this rank's slices alone.
    if (!shard || resumed)
      for (const HostTensor &p : params) {
        HostTensor z;
        z.dtype = o.bf16Moments ? DType::BF16 : p.dtype;
        z.shape = p.shape;
        z.data.assign(size_t(p.numElements()) * dtypeSize(z.dtype), 0);
        m.push_back(z);
        v.push_back(std::move(z));
      }
  }
  initValues = std::vector<HostTensor>();
  if (resumed && ranks > 1) {
    // Rank 0's state replaces the others' initial one.
    std::string err;
    for (auto *group : {&params, &m, &v})
      for (HostTensor &t : *group)
        if (!comm->broadcast(t.data.data(), t.data.size(), 0,
                             "the checkpoint's state", err))
          return collectiveFailed(err, error);
  }
  if (resumed)
    note("resuming after step " + std::to_string(startStep));
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
  raiseAllocationCache(values);
  if (split) {
    for (const HostTensor &p : params) {
      if (p.dtype != DType::F32) {
        error = plain("data-parallel training needs f32 parameters");
        return false;
      }
      gradOffset.push_back(gradElements);
      gradElements += size_t(p.numElements());
    }
    // The gradients, then loss, l_ce and l_mse, then one slot per rank for
    // its throughput.
    reduceBuffer.assign(gradElements + 3 + size_t(ranks), 0.0f);
    if (comm || o.gradAccum > 1)
      note("data parallel: " + std::to_string(ranks) + " rank(s) x " +
           std::to_string(o.gradAccum) + " micro-batch(es) x " +
           std::to_string(teacher.batch) + " sequences = " +
           std::to_string(int64_t(ranks) * o.gradAccum * teacher.batch) +
           " per step" +
           (comm ? std::string(", gradients averaged over ") + comm->backend()
                 : std::string()));
    if (shard)
      setUpShards();
    // Sharded, each bucket is reduce-scattered (each rank needs the sums of
    // its own block only), with the whole buffer's blocks.
    if (comm && ranks > 1 && o.bucketMB > 0 &&
        comm->collectivesFromAnyThread()) {
      const size_t bucketValues =
          std::max<size_t>(1, size_t(o.bucketMB * double(1 << 20) / 4));
      // One bucket completes with the backward's last gradient: nothing to
      // overlap, and the hand-off to the reducer's thread would only cost
      // (a few ms a step on the bundled example).
      if (BucketedAllReduce::bucketEnds(gradOffset, gradElements, bucketValues)
              .size() < 2) {
        note("gradients fit in one bucket of " + formatNumber(o.bucketMB) +
             " MiB: reduced after the backward");
      } else {
        buckets = std::make_unique<BucketedAllReduce>(
            *comm, reduceBuffer.data(), gradOffset, gradElements, bucketValues,
            shard);
        note(std::string("gradients ") +
             (shard ? "reduce-scattered" : "all-reduced") + " in " +
             std::to_string(buckets->numBuckets()) + " buckets of about " +
             formatNumber(o.bucketMB) +
             " MiB, each as soon as the backward has finished it");
      }
    }
  }
  return true;
}

bool TrainSession::Impl::holdStateOnDevice(TrainError &error) {
  // A GPU step built to update in place (TrainProgram.cpp) takes its state
  // where its kernels read it; the CPU's updates the host tensors.
  const CompiledModel::Entry *e =
      split ? nullptr : step->find(entry("_train_step"));
  if (!e || e->inplaceArgs.empty() || step->target() == Target::Cpu)
    return true;
  deviceState = std::make_unique<DeviceTrainState>(*step);
  std::vector<const HostTensor *> state;
  for (auto *group : {&params, &m, &v})
    for (const HostTensor &t : *group)
      state.push_back(&t);
  if (!deviceState->upload(state, error.detail))
    return false;
  hostStep = current;
  note("train state held " +
       std::string(step->stateOnDevice() ? "in device memory"
                                         : "as the emulated device's") +
       ": " + std::to_string(deviceState->tensors()) + " tensors, " +
       std::to_string(deviceState->bytes()) + " bytes, uploaded once");
  return true;
}

bool TrainSession::Impl::stateToHost(bool moments, TrainError &error) {
  if (!deviceState || hostStep == current)
    return true;
  std::vector<HostTensor *> into;
  for (auto *group : {&params, &m, &v}) {
    if (group != &params && !moments)
      break;
    for (HostTensor &t : *group)
      into.push_back(&t);
  }
  if (!deviceState->download(into, error.detail))
    return false;
  if (moments)
    hostStep = current;
  return true;
}

namespace {
/// Calls fn(i, s, e) for each tensor i of `group` (laid end to end, tensor
/// i from offset[i]) that overlaps [lo, hi), with [s, e) the overlap, in
/// the end-to-end numbering.
template <typename Fn>
void forEachOverlap(const std::vector<HostTensor> &group,
                    const std::vector<size_t> &offset, size_t lo, size_t hi,
                    Fn fn) {
  for (size_t i = 0; i < group.size(); ++i) {
    const size_t a = offset[i], b = a + size_t(group[i].numElements());
    const size_t s = std::max(lo, a), e = std::min(hi, b);
    if (s < e)
      fn(i, s, e);
  }
}
/// Elements [lo, hi) of `group` laid end to end to `out`, or from `in` back
/// into `group`.
void copyFlat(const std::vector<HostTensor> &group,
              const std::vector<size_t> &offset, size_t lo, size_t hi,
              float *out) {
  forEachOverlap(group, offset, lo, hi, [&](size_t i, size_t s, size_t e) {
    std::memcpy(out + (s - lo),
                reinterpret_cast<const float *>(group[i].data.data()) +
                    (s - offset[i]),
                (e - s) * 4);
  });
}
void copyFlatBack(std::vector<HostTensor> &group,
                  const std::vector<size_t> &offset, size_t lo, size_t hi,
                  const float *in) {
  forEachOverlap(group, offset, lo, hi, [&](size_t i, size_t s, size_t e) {
    std::memcpy(reinterpret_cast<float *>(group[i].data.data()) +
                    (s - offset[i]),
                in + (s - lo), (e - s) * 4);
  });
}
HostTensor flatF32(size_t n) {
  HostTensor t;
  t.dtype = DType::F32;
  t.shape = {int64_t(n)};
  t.data.assign(n * 4, 0);
  return t;
}
float *floats(HostTensor &t) {
  return reinterpret_cast<float *>(t.data.data());
}
} // namespace

void TrainSession::Impl::setUpShards() {
  std::tie(sliceLo, sliceHi) =
      Communicator::blockOfRank(gradElements, rank, ranks);
  const size_t n = sliceHi - sliceLo;
  HostTensor ms = flatF32(n), vs = flatF32(n);
  if (!m.empty()) {
    // Resumed: this rank's piece of the checkpoint's moments.
    copyFlat(m, gradOffset, sliceLo, sliceHi, floats(ms));
    copyFlat(v, gradOffset, sliceLo, sliceHi, floats(vs));
  }
  m.assign(1, std::move(ms));
  v.assign(1, std::move(vs));
  // Two f32 moments per value.
  auto mib = [](size_t values) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.2f",
                  double(values) * 8 / (1024.0 * 1024.0));
    return std::string(buf);
  };
  note("optimizer state sharded over " + std::to_string(ranks) +
       " rank(s): this rank keeps the Adam moments of values [" +
       std::to_string(sliceLo) + ", " + std::to_string(sliceHi) + ") of " +
       std::to_string(gradElements) + ", " + mib(n) + " MiB instead of " +
       mib(gradElements) + " MiB");
}

bool TrainSession::Impl::updateSlice(int64_t s, double lr, float scale,
                                     TrainError &error) {
  HostTensor lrT = scalarF32(float(lr)), stepT = scalarF32(float(s)),
             scaleT = scalarF32(scale);
  const CompiledModel::Entry *e = step->find(entry("_apply_update_slice"));
  // The slice is updated where it lives, one call per parameter it
  // overlaps: that parameter's piece, the moments and the all-reduced
  // gradients at the same offsets (or, on a target without
  // update-in-place, the new values copied back there). The gradients are
  // scaled in the update.
  std::vector<TensorRef> in, out;
  bool ok = true;
  forEachOverlap(params, gradOffset, sliceLo, sliceHi,
                 [&](size_t i, size_t lo, size_t hi) {
    if (!ok)
      return;
    const size_t n = hi - lo;
    auto piece = [&](float *base) { return floatRef(base, {int64_t(n)}, n); };
    in = {piece(floats(params[i]) + (lo - gradOffset[i])),
          piece(floats(m[0]) + (lo - sliceLo)),
          piece(floats(v[0]) + (lo - sliceLo)),
          piece(reduceBuffer.data() + lo),
          refOf(lrT),
          refOf(stepT),
          refOf(scaleT)};
    out.clear();
    if (e->inplaceArgs.empty())
      out = {in[0], in[1], in[2]};
    ok = step->runRefsInto(*e, in, out, error.detail);
  });
  if (!ok)
    return false;
  if (ranks == 1)
    return true;
  // Every rank's updated slice, into every rank's parameters: gathered where
  // the parameters live (the pieces, laid end to end, are the slices'
  // layout).
  std::vector<std::pair<float *, size_t>> pieces;
  pieces.reserve(params.size());
  for (HostTensor &p : params)
    pieces.push_back({floats(p), size_t(p.numElements())});
  std::string err;
  if (!comm->allGatherBlocks(
          pieces, "the parameters of step " + std::to_string(s), err))
    return collectiveFailed(err, error);
  return true;
}

bool TrainSession::Impl::gatherSlices(const float *slice, float *all,
                                      const std::string &what,
                                      TrainError &error) {
  std::copy(slice, slice + (sliceHi - sliceLo), all + sliceLo);
  if (ranks == 1)
    return true;
  std::string err;
  if (!comm->allGatherBlocks(all, gradElements, what, err))
    return collectiveFailed(err, error);
  return true;
}

bool TrainSession::Impl::gatherMoments(std::vector<HostTensor> &fullM,
                                       std::vector<HostTensor> &fullV,
                                       TrainError &error) {
  fullM.clear();
  fullV.clear();
  // Gathered in the reduce buffer: between steps its gradients are spent
  // (and the losses after them are not touched).
  float *all = reduceBuffer.data();
  for (auto [slice, full] : {std::pair{&m, &fullM}, std::pair{&v, &fullV}}) {
    if (!gatherSlices(floats((*slice)[0]), all,
                      "the Adam moments for the checkpoint", error))
      return false;
    if (!root())
      continue;
    for (const HostTensor &p : params)
      full->push_back(p);
    copyFlatBack(*full, gradOffset, 0, gradElements, all);
  }
  return true;
}

bool TrainSession::Impl::runStep(TrainStepInfo &info, TrainError &error) {
  stepCpuStart = processCpuSeconds();
  if (split)
    return runSplitStep(info, error);
  const int64_t s = current + 1;
  const size_t numParams = params.size();
  const double lr = scheduleLr(o, s);
  std::vector<HostTensor> in, out;
  in.reserve(3 * numParams + 3);
  // Held on the device, the state is not an input the caller passes.
  if (!deviceState)
    for (auto *group : {&params, &m, &v})
      for (HostTensor &t : *group)
        in.push_back(std::move(t));
  in.push_back(batchForStep(data, o.seed, s, teacher.batch));
  in.push_back(scalarF32(float(lr)));
  in.push_back(scalarF32(float(s)));
  auto start = std::chrono::steady_clock::now();
  // A step built with update-in-place writes the new state into its inputs
  // (the host tensors on the CPU, the held device state on a GPU) and
  // returns only the losses; otherwise it returns the new state before
  // them.
  const CompiledModel::Entry *e = step->find(entry("_train_step"));
  const bool inPlace = !e->inplaceArgs.empty();
  if (!(deviceState ? deviceState->run(*e, in, out, error.detail)
        : inPlace
            ? step->runInPlace(entry("_train_step"), in, out, error.detail)
            : step->run(entry("_train_step"), in, out, error.detail)))
    return false;
  const double secs = std::chrono::duration<double>(
                          std::chrono::steady_clock::now() - start)
                          .count();
  const size_t lossAt = inPlace ? 0 : 3 * numParams;
  const float loss = getScalar(out[lossAt]), ce = getScalar(out[lossAt + 1]),
              mse = getScalar(out[lossAt + 2]);
  // The state was moved into `in`; it comes back updated, or the step's
  // results replace it.
  std::vector<HostTensor> &state = inPlace ? in : out;
  for (size_t i = 0; i < numParams && !deviceState; ++i) {
    params[i] = std::move(state[i]);
    m[i] = std::move(state[numParams + i]);
    v[i] = std::move(state[2 * numParams + i]);
  }
  if (!std::isfinite(loss) || !std::isfinite(ce) || !std::isfinite(mse)) {
    error = plain("the loss is not finite at step " + std::to_string(s) +
                  " (loss " + formatNumber(loss) + ", l_ce " +
                  formatNumber(ce) + ", l_mse " + formatNumber(mse) +
                  "); the last good checkpoint is " + ckptPath +
                  "; try a lower learning rate");
    return false;
  }
  info = finishStep(s, lr, loss, ce, mse, secs, teacher.batch);
  log.append(info);
  return checkpointIfDue(s, error);
}

bool TrainSession::Impl::runSplitStep(TrainStepInfo &info,
                                      TrainError &error) {
  using clock = std::chrono::steady_clock;
  const int64_t s = current + 1;
  const size_t numParams = params.size();
  const int64_t micro = o.gradAccum, batch = teacher.batch;
  const double lr = scheduleLr(o, s);
  auto start = clock::now();
  if (comm)
    comm->takeCommSeconds();
  // This rank's micro-batches: its consecutive pieces of the step's global
  // batch (rank-major), so R ranks x N micro-batches of b see the rows one
  // process with a batch of R*N*b would.
  double compute = 0;
  float *buf = reduceBuffer.data();
  std::fill(buf + gradElements, buf + reduceBuffer.size(), 0.0f);
  const CompiledModel::Entry *gradEntry = step->find(entry("_kd_loss_grad"));
  // The parameters are lent to the gradient (not copied); its results are
  // written where they are summed: the first micro-batch's gradients into
  // the reduce buffer itself, the others' into microGrads, then added. A
  // gradient built with destination arguments (grad-destinations, the
  // CPU's) computes them there; otherwise they are copied there after it.
  const bool intoDestinations = !gradEntry->inplaceArgs.empty();
  // With buckets, the last micro-batch's gradient call announces each
  // gradient as it finishes it (grad-ready calls) and its bucket's
  // all-reduce starts then, on the reducer's thread.
  const std::string what = "the gradients of step " + std::to_string(s);
  if (buckets)
    buckets->beginStep(what);
  std::vector<TensorRef> in;
  in.reserve(2 * numParams + 1);
  for (HostTensor &p : params)
    in.push_back(refOf(p));
  float losses[3];
  std::vector<TensorRef> out;
  out.reserve(numParams + 3);
  for (int64_t k = 0; k < micro; ++k) {
    auto t0 = clock::now();
    HostTensor rows = shardForStep(data, o.seed, s,
                                   (int64_t(rank) * micro + k) * batch, batch);
    in.resize(numParams);
    in.push_back(refOf(rows));
    if (k == 1)
      microGrads.resize(gradElements);
    float *to = k == 0 ? buf : microGrads.data();
    out.clear();
    for (int j = 0; j < 3; ++j)
      out.push_back(floatRef(&losses[j], {}, 1));
    std::vector<TensorRef> &grads = intoDestinations ? in : out;
    for (size_t i = 0; i < numParams; ++i)
      grads.push_back(floatRef(to + gradOffset[i], params[i].shape,
                               size_t(params[i].numElements())));
    const bool last = k + 1 == micro;
    {
      std::optional<BucketedAllReduce::Listening> listening;
      if (buckets && last)
        listening.emplace(*buckets, to);
      if (!step->runRefsInto(*gradEntry, in, out, error.detail))
        return false;
    }
    for (int j = 0; j < 3; ++j)
      buf[gradElements + j] += losses[j];
    // The last micro-batch's gradients are added as they arrive.
    if (k > 0 && !(buckets && last)) {
      const float *g = microGrads.data();
      for (size_t e = 0; e < gradElements; ++e)
        buf[e] += g[e];
    }
    compute += std::chrono::duration<double>(clock::now() - t0).count();
  }
  buf[gradElements + 3 + rank] =
      float(double(micro * batch * teacher.seqLen) / compute);
  // The sum over the ranks: gradients, losses, throughputs in one
  // all-reduce; with a sharded optimizer, a reduce-scatter of the gradients
  // (each rank needs its slice's sum only) and an all-reduce of the rest.
  if (buckets) {
    std::string err;
    if (!buckets->finishStep(micro > 1 ? microGrads.data() : buf,
                             buf + gradElements,
                             reduceBuffer.size() - gradElements,
                             "the losses of step " + std::to_string(s), err))
      return collectiveFailed(err, error);
  } else if (comm) {
    std::string err;
    bool ok =
        shard ? comm->reduceScatterSum(buf, gradElements, what, err) &&
                    comm->allReduceSum(
                        buf + gradElements, reduceBuffer.size() - gradElements,
                        "the losses of step " + std::to_string(s), err)
              : comm->allReduceSum(buf, reduceBuffer.size(), what, err);
    if (!ok)
      return collectiveFailed(err, error);
  }
  const float scale = 1.0f / float(int64_t(ranks) * micro);
  const float loss = buf[gradElements] * scale,
              ce = buf[gradElements + 1] * scale,
              mse = buf[gradElements + 2] * scale;
  if (!std::isfinite(loss) || !std::isfinite(ce) || !std::isfinite(mse)) {
    error = plain("the loss is not finite at step " + std::to_string(s) +
                  " (loss " + formatNumber(loss) + ", l_ce " +
                  formatNumber(ce) + ", l_mse " + formatNumber(mse) +
                  "); the last good checkpoint is " + ckptPath +
                  "; try a lower learning rate");
    return false;
  }
  if (shard) {
    if (!updateSlice(s, lr, scale, error))
      return false;
    return finishSplitStep(s, lr, loss, ce, mse, start, error, info);
  }
  // The update: the same on every rank, from the same summed gradients
  // (scaled by 1 / (R * N) in the update). Built with update-in-place (the
  // CPU's), it writes the parameters and moments where they are; otherwise
  // its new state is copied back over them.
  HostTensor lrT = scalarF32(float(lr)), stepT = scalarF32(float(s)),
             scaleT = scalarF32(scale);
  std::vector<TensorRef> uin;
  uin.reserve(4 * numParams + 3);
  for (auto *group : {&params, &m, &v})
    for (HostTensor &t : *group)
      uin.push_back(refOf(t));
  for (size_t i = 0; i < numParams; ++i)
    uin.push_back(floatRef(buf + gradOffset[i], params[i].shape,
                           size_t(params[i].numElements())));
  uin.push_back(refOf(lrT));
  uin.push_back(refOf(stepT));
  uin.push_back(refOf(scaleT));
  const CompiledModel::Entry *updateEntry = step->find(entry("_apply_update"));
  std::vector<TensorRef> uout;
  if (updateEntry->inplaceArgs.empty())
    uout.assign(uin.begin(), uin.begin() + 3 * numParams);
  if (!step->runRefsInto(*updateEntry, uin, uout, error.detail))
    return false;
  return finishSplitStep(s, lr, loss, ce, mse, start, error, info);
}

bool TrainSession::Impl::finishSplitStep(
    int64_t s, double lr, float loss, float ce, float mse,
    std::chrono::steady_clock::time_point start, TrainError &error,
    TrainStepInfo &info) {
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  info = finishStep(s, lr, loss, ce, mse, secs,
                    int64_t(ranks) * o.gradAccum * teacher.batch);
  info.dataParallel = true;
  info.ranks = ranks;
  info.commSeconds = comm ? comm->takeCommSeconds() : 0;
  info.commWaitSeconds = info.commSeconds;
  if (buckets) {
    info.buckets = buckets->numBuckets();
    info.bucketsDuringBackward = buckets->startedDuringBackward();
    info.commWaitSeconds = buckets->waitSeconds();
  }
  for (int r = 0; r < ranks; ++r)
    info.rankTokensPerSecond.push_back(reduceBuffer[gradElements + 3 + r]);
  if (root())
    log.append(info);
  return checkpointIfDue(s, error);
}

TrainStepInfo TrainSession::Impl::finishStep(int64_t s, double lr, float loss,
                                             float ce, float mse, double secs,
                                             int64_t rows) {
  current = s;
  lastLoss = loss;
  phase("step " + std::to_string(s));
  TrainStepInfo info;
  info.step = s;
  info.lastStep = o.steps;
  info.startStep = startStep;
  info.lr = lr;
  info.loss = loss;
  info.lossCE = ce;
  info.lossMSE = mse;
  info.seconds = secs;
  info.tokensPerSecond = double(rows * teacher.seqLen) / secs;
  info.cpuSeconds = processCpuSeconds() - stepCpuStart;
  return info;
}

bool TrainSession::Impl::checkpointIfDue(int64_t s, TrainError &error) {
  if ((o.checkpointEvery > 0 && s % o.checkpointEvery == 0) || s == o.steps)
    return save(error);
  return true;
}

bool TrainSession::Impl::save(TrainError &error) {
  // finish() moved the parameters into the model and freed the moments.
  if (packed) {
    error = plain("the run is over: its model was packed, and no state is "
                  "left to checkpoint");
    return false;
  }
  if (!stateToHost(/*moments=*/true, error))
    return false;
  // Sharded moments: every rank sends its slice, so the checkpoint holds
  // the whole state (and resumes with any rank count, sharded or not).
  std::vector<HostTensor> fullM, fullV;
  if (shard && !gatherMoments(fullM, fullV, error))
    return false;
  // Rank 0 writes the checkpoint, once for the run.
  if (!root()) {
    checkpointed = current;
    return true;
  }
  const std::vector<HostTensor> &mm = shard ? fullM : m,
                                &vv = shard ? fullV : v;
  // The state is written from where it is, not copied.
  CheckpointView c;
  c.step = current;
  const size_t numParams = params.size();
  for (int k = 0; k < 3; ++k)
    for (size_t i = 0; i < numParams; ++i) {
      c.names.push_back(names[i] + (k == 0   ? ""
                                    : k == 1 ? ".adam_m"
                                             : ".adam_v"));
      c.tensors.push_back(k == 0 ? &params[i] : k == 1 ? &mm[i] : &vv[i]);
    }
  HostTensor layout, rows;
  if (split) {
    // Every rank's data position: step c.step + 1 draws its global batch
    // from (seed, step) alone, and rank r takes rows [first, first + rows)
    // of it (its micro-batches one after the other).
    const int64_t per = o.gradAccum * teacher.batch;
    c.names.push_back(kLayoutTensor);
    layout = i64Tensor({4}, {ranks, o.gradAccum, teacher.batch, ranks * per});
    c.tensors.push_back(&layout);
    std::vector<int64_t> rowList;
    for (int64_t r = 0; r < ranks; ++r)
      rowList.insert(rowList.end(), {r, r * per, per});
    c.names.push_back(kRowsTensor);
    rows = i64Tensor({ranks, 3}, rowList);
    c.tensors.push_back(&rows);
  }
  if (!writeCheckpoint(ckptPath, c, error.detail))
    return false;
  checkpointed = current;
  phase("checkpoint written");
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
  result.modelPath = s.o.outDir + "/model.mlirbc";
  result.steps = s.o.steps;
  result.finalLoss = s.lastLoss;
  // Rank 0 writes the model; the others hold the same parameters.
  if (!s.root())
    return true;
  if (!s.packed) {
    // The device state's last copy: the parameters, for the model.
    if (!s.stateToHost(/*moments=*/false, error))
      return false;
    if (s.deviceState) {
      const DeviceTrainState::Counts &c = s.deviceState->counts();
      s.note("train state on the device: " + std::to_string(c.uploads) +
             " tensor uploads (" + std::to_string(c.uploadBytes) + " bytes), " +
             std::to_string(c.downloads) + " tensor downloads (" +
             std::to_string(c.downloadBytes) + " bytes) over " +
             std::to_string(s.current - s.startStep) + " steps");
      s.deviceState.reset();
    }
    // The optimizer's moments are not needed any more (the last checkpoint
    // holds them): freed before packing.
    s.m = std::vector<HostTensor>();
    s.v = std::vector<HostTensor>();
    if (!packStudent(*s.program, s.teacher.function, s.names, s.params,
                     *s.diags, error.detail))
      return false;
    s.packed = true;
    s.phase("model packed");
  }
  result.modelPath = s.o.outDir + "/model.mlirbc";
  result.steps = s.o.steps;
  result.finalLoss = s.lastLoss;
  if (!writeModel(*s.program, result.modelPath, error.detail))
    return false;
  s.phase("model written");
  return true;
}

bool TrainSession::anyRankStops(bool stop, bool &any, TrainError &error) {
  error = TrainError();
  any = stop;
  Impl &s = *impl_;
  if (s.ranks == 1)
    return true;
  float vote = stop ? 1.0f : 0.0f;
  std::string err;
  if (!s.comm->allReduceSum(&vote, 1,
                            "the stop vote after step " +
                                std::to_string(s.current),
                            err))
    return s.collectiveFailed(err, error);
  any = vote > 0;
  return true;
}

TrainSizeReport TrainSession::sizeReport() {
  return impl_->packed ? measureSizes(impl_->teacherBits,
                                     impl_->teacherParams, *impl_->program)
                       : TrainSizeReport();
}

} // namespace onebit
