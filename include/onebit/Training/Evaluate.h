//===- Evaluate.h - perplexity of a compiled language model -----*- C++ -*-===//
//
// The GPTQ/OmniQuant protocol (docs/training.md): the token stream is cut
// into non-overlapping windows of the model's sequence length (the tail is
// dropped); every token of a window but the first is predicted from the ones
// before it; perplexity = exp(mean negative log-likelihood).
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_TRAINING_EVALUATE_H
#define ONEBIT_TRAINING_EVALUATE_H

#include "onebit/Runner/Runner.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace onebit {

struct PerplexityResult {
  double meanNll = 0;
  double perplexity = 0;
  int64_t windows = 0;
  int64_t predictedTokens = 0;
};

/// Runs `model` (entry: token ids [batch, seq] i64 -> logits [batch, seq,
/// vocab] f32, static shape) over `tokens`. Returns false with `error` set
/// when the text is shorter than one window, a token is outside the
/// vocabulary, or the model returns non-finite logits.
bool evaluatePerplexity(Executable &model,
                        const std::vector<int64_t> &tokens,
                        PerplexityResult &result, std::string &error);

/// log(softmax(row)[index]) over `vocab` logits, computed stably in double.
double logSoftmaxAt(const float *row, int64_t vocab, int64_t index);

/// The next token from one row of logits: the arg-max when temperature <= 0,
/// else a sample from softmax(row / temperature) drawn with `rng`.
int64_t pickToken(const float *row, int64_t vocab, double temperature,
                  std::mt19937_64 &rng);

/// Log-likelihood of `continuation` after `context` (sum over its tokens),
/// with both cut to the model's window from the left when too long.
bool scoreContinuation(Executable &model,
                       const std::vector<int64_t> &context,
                       const std::vector<int64_t> &continuation,
                       double &logLikelihood, std::string &error);

/// Extends `tokens` by `count` tokens: greedy when temperature <= 0, else
/// sampled from softmax(logits / temperature) with `seed`. A model compiled
/// with its KV-cache entries (@prefill, @decode) decodes incrementally;
/// otherwise every token reruns the window (cut to the model's sequence
/// length from the left).
bool generateTokens(Executable &model, std::vector<int64_t> &tokens,
                    int64_t count, double temperature, uint64_t seed,
                    std::string &error);

/// Fixes the token-id input of `module`'s entry (its only public function
/// with a body, one rank-2 i64 argument) to [batch, seqLen] where it is
/// dynamic (GGUF imports are [?, ?]), so that the model has the static
/// window the evaluations above need. A static dimension must equal the
/// request unless that is 0 (keep it); a dynamic one requested as 0 becomes
/// 1 (batch) or kDefaultSeqLen. Modules of another form are left alone (the
/// evaluations report them).
constexpr int64_t kDefaultSeqLen = 128;
bool setStaticTokenShape(mlir::ModuleOp module, int64_t batch, int64_t seqLen,
                         std::string &error);

/// Byte-level tokens of a file's contents (token = byte value).
bool readByteTokens(const std::string &path, std::vector<int64_t> &tokens,
                    std::string &error);

} // namespace onebit

#endif // ONEBIT_TRAINING_EVALUATE_H
