//===- Sampling.h - next-token choice from a row of logits ------*- C++ -*-===//
//
// Greedy (temperature 0) or sampled choice of the next token, with the
// top-k / top-p (nucleus) filters llama.cpp and Hugging Face apply, in that
// order, before sampling from softmax(logits / temperature).
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_RUNTIME_SAMPLING_H
#define ONEBIT_RUNTIME_SAMPLING_H

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace onebit {

struct SamplingOptions {
  double temperature = 0; ///< <= 0: greedy (the arg-max, first on ties)
  int64_t topK = 0;       ///< keep the K most likely tokens; 0: all
  double topP = 1.0;      ///< keep the smallest set with this much mass
  uint64_t seed = 0;
  /// Empty when the options make sense, else what is wrong with them.
  std::string validate() const;
};

class Sampler {
public:
  explicit Sampler(const SamplingOptions &options);
  /// The next token from `vocab` logits. Non-finite logits are never
  /// chosen; a row without a finite logit gives -1.
  int64_t pick(const float *logits, int64_t vocab);

private:
  SamplingOptions options_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int64_t>> candidates_;
  std::vector<double> weights_;
};

} // namespace onebit

#endif // ONEBIT_RUNTIME_SAMPLING_H
