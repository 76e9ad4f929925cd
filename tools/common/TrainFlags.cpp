//===- TrainFlags.cpp - onebit-train's flags in error messages ------------===//

#include "TrainFlags.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/FileSystem.h"

namespace onebit {

/// The flag with what separates it from the detail.
static const char *flagPrefix(TrainOption option) {
  switch (option) {
  case TrainOption::None:
    return "";
  case TrainOption::Teacher:
    return "--teacher ";
  case TrainOption::OutDir:
    return "--out DIR ";
  case TrainOption::Steps:
    return "--steps ";
  case TrainOption::LearningRate:
    return "--lr ";
  case TrainOption::Init:
    return "--init ";
  case TrainOption::Data:
    return "--data ";
  case TrainOption::Tokenizer:
    return "--tokenizer ";
  case TrainOption::Batch:
    return "--batch ";
  case TrainOption::SeqLen:
    return "--seq-len ";
  case TrainOption::Device: // the detail starts with the device: "cuda: ..."
    return "--device=";
  case TrainOption::GradAccum:
    return "--grad-accum ";
  case TrainOption::Moments: // the detail starts with the type: "bf16 ..."
    return "--moments=";
  case TrainOption::BucketSize:
    return "--bucket-mb ";
  }
  return "";
}

std::string trainFlagError(const TrainError &error) {
  return flagPrefix(error.option) + error.detail;
}

std::string checkTrainFlags(const TrainOptions &o) {
  TrainError error;
  if (!validateTrainOptions(o, error)) {
    if (error.option == TrainOption::Tokenizer)
      return "--tokenizer applies to --data text:FILE only";
    return trainFlagError(error);
  }
  // The library says "give a batch size and a sequence length".
  if (llvm::StringRef(o.teacherPath).ends_with(".gguf") &&
      llvm::sys::fs::exists(o.teacherPath) && (!o.batch || !o.seqLen))
    return "a GGUF teacher has dynamic token ids: give --batch and --seq-len";
  return "";
}

} // namespace onebit
