//===- Trainer.h - knowledge-distillation training of a 1-bit model -*- C++ -*-===//
//
// The library behind onebit-train (docs/training.md): imports the FP teacher,
// quantizes the student (SVID), generates the KD train step with
// --onebit-build-train-step, JIT-compiles it once and runs the training loop
// (data, cosine learning-rate schedule with warm-up, atomic checkpoints,
// resume, JSONL log), then packs the trained student into a 1-bit model.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_TRAINING_TRAINER_H
#define ONEBIT_TRAINING_TRAINER_H

#include <cstdint>
#include <functional>
#include <string>

namespace onebit {

struct TrainOptions {
  std::string teacherPath;   ///< .onnx, .mlir or .mlirbc (FP model)
  std::string init = "nmf";  ///< SVID init: nmf, svd or mean
  std::string data; ///< gen:N (teacher-generated), text:FILE, tokens:FILE.npy
  /// Tokenizer for text:FILE data (a .gguf model or a Hugging Face
  /// tokenizer.json); empty: byte-level tokens (token = byte).
  std::string tokenizerPath;
  int64_t steps = 100;
  int64_t batch = 0;         ///< 0: the model's static batch size
  int64_t seqLen = 0;        ///< 0: the model's static sequence length
  double lr = 4e-4;
  int64_t warmup = 0;
  double alpha = 1.0;        ///< L_KD = L_CE + alpha * L_MSE
  double weightDecay = 0.0;
  /// Full-precision weights that train too, a comma list of embeddings,
  /// norms, head ("": only the 1-bit layers, as in the paper).
  std::string trainable;
  int threads = 0;
  std::string outDir;
  bool resume = false;
  int64_t checkpointEvery = 50;
  uint64_t seed = 0;
  /// Testing: SIGKILL the process right after this step (0: never), to
  /// check that --resume continues the run exactly.
  int64_t killAfter = 0;
  /// Called after every step; returning false stops the run after that step
  /// (a checkpoint is written).
  std::function<bool(const struct TrainStepInfo &)> onStep;
  /// No progress lines on stderr.
  bool quiet = false;
};

struct TrainStepInfo {
  int64_t step = 0;
  double lr = 0, loss = 0, lossCE = 0, lossMSE = 0, seconds = 0;
};

/// Runs training. Progress goes to stderr; errors are printed there with a
/// clear message. Returns the process exit code (0 on success).
int runTraining(const TrainOptions &options);

/// The same, with the error message returned in `error` instead of printed.
/// `modelPath` receives the packed model's path and `finalLoss` the last
/// step's loss on success.
int runTraining(const TrainOptions &options, std::string &error,
                std::string *modelPath = nullptr, double *finalLoss = nullptr);

} // namespace onebit

#endif // ONEBIT_TRAINING_TRAINER_H
