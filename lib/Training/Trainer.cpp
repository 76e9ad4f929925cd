//===- Trainer.cpp - options, errors and a whole training run -------------===//

#include "onebit/Training/Trainer.h"

#include "TrainData.h"

#include <cmath>

namespace onebit {

llvm::StringRef trainOptionName(TrainOption option) {
  switch (option) {
  case TrainOption::None:
    return "";
  case TrainOption::Teacher:
    return "teacher path";
  case TrainOption::OutDir:
    return "output directory";
  case TrainOption::Steps:
    return "steps";
  case TrainOption::LearningRate:
    return "learning rate";
  case TrainOption::Init:
    return "SVID init";
  case TrainOption::Data:
    return "data";
  case TrainOption::Tokenizer:
    return "tokenizer";
  case TrainOption::Batch:
    return "batch size";
  case TrainOption::SeqLen:
    return "sequence length";
  case TrainOption::Device:
    return "device";
  case TrainOption::GradAccum:
    return "gradient accumulation";
  case TrainOption::Moments:
    return "Adam moments";
  case TrainOption::BucketSize:
    return "all-reduce bucket size";
  }
  return "";
}

std::string TrainError::message() const {
  if (option == TrainOption::None)
    return detail;
  return trainOptionName(option).str() + " " + detail;
}

bool validateTrainOptions(const TrainOptions &o, TrainError &error) {
  auto bad = [&](TrainOption option, std::string detail) {
    error = TrainError{option, std::move(detail)};
    return false;
  };
  if (o.teacherPath.empty())
    return bad(TrainOption::Teacher, "is required");
  if (o.outDir.empty())
    return bad(TrainOption::OutDir, "is required");
  if (o.steps <= 0)
    return bad(TrainOption::Steps, "must be positive");
  if (o.gradAccum <= 0)
    return bad(TrainOption::GradAccum, "must be positive");
  if (!(o.bucketMB >= 0) || !std::isfinite(o.bucketMB))
    return bad(TrainOption::BucketSize,
               "must be a number of MiB, 0 or more (0: one all-reduce "
               "after the backward)");
  if (!(o.lr > 0) || !std::isfinite(o.lr))
    return bad(TrainOption::LearningRate, "must be a positive number");
  if (o.init != "nmf" && o.init != "svd" && o.init != "mean")
    return bad(TrainOption::Init,
               "must be nmf, svd or mean (got '" + o.init + "')");
  DataSpec spec;
  if (!parseDataSpec(o.data, spec, error))
    return false;
  if (!o.tokenizerPath.empty() && spec.kind != DataSpec::Text)
    return bad(TrainOption::Tokenizer, "applies to text:FILE data only");
  // The GPU pipelines keep the step unrolled; checkpointing needs the
  // layers outlined.
  if (o.checkpointActivations && o.target != Target::Cpu)
    return bad(TrainOption::Device,
               std::string(targetName(o.target)) +
                   ": activation checkpointing runs on the CPU only");
  if (o.bf16Moments && o.target != Target::Cpu)
    return bad(TrainOption::Device,
               std::string(targetName(o.target)) +
                   ": bf16 Adam moments run on the CPU only");
  // Data parallelism is refused by the session, which knows the ranks.
  if (o.bf16Moments && (o.gradAccum > 1 || o.shardOptimizer))
    return bad(TrainOption::Moments,
               "bf16 applies to the fused step only (one process, no "
               "gradient accumulation, no sharded optimizer)");
  return true;
}

bool runTraining(const TrainOptions &options, const TrainCallbacks &callbacks,
                 TrainResult &result, TrainError &error) {
  std::unique_ptr<TrainSession> session =
      TrainSession::create(options, callbacks, error);
  if (!session)
    return false;
  while (!session->done()) {
    TrainStepInfo info;
    if (!session->step(info, error))
      return false;
    bool stop = callbacks.onStep && !callbacks.onStep(info), any = stop;
    if (!session->anyRankStops(stop, any, error))
      return false;
    if (any) {
      if (!session->checkpoint(error))
        return false;
      break;
    }
  }
  if (!session->finish(result, error))
    return false;
  if (callbacks.finished)
    callbacks.finished(result, session->sizeReport());
  return true;
}

} // namespace onebit
