//===- Sampling.cpp - next-token choice from a row of logits --------------===//

#include "onebit/Runtime/Sampling.h"

#include <algorithm>
#include <cmath>

namespace onebit {

std::string SamplingOptions::validate() const {
  if (!std::isfinite(temperature) || temperature < 0)
    return "the temperature must be a finite number >= 0";
  if (topK < 0)
    return "top-k must be >= 0 (0 keeps every token)";
  if (!(topP > 0 && topP <= 1))
    return "top-p must be in (0, 1]";
  return {};
}

Sampler::Sampler(const SamplingOptions &options)
    : options_(options), rng_(options.seed) {}

int64_t Sampler::pick(const float *logits, int64_t vocab) {
  if (options_.temperature <= 0) {
    int64_t best = -1;
    for (int64_t i = 0; i < vocab; ++i)
      if (std::isfinite(logits[i]) && (best < 0 || logits[i] > logits[best]))
        best = i;
    return best;
  }
  candidates_.clear();
  for (int64_t i = 0; i < vocab; ++i)
    if (std::isfinite(logits[i]))
      candidates_.push_back({logits[i], i});
  if (candidates_.empty())
    return -1;
  // Most likely first; ties by lower id, so the order is deterministic.
  auto byLogit = [](const std::pair<float, int64_t> &a,
                    const std::pair<float, int64_t> &b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  size_t keep = candidates_.size();
  if (options_.topK > 0 && size_t(options_.topK) < keep) {
    keep = size_t(options_.topK);
    std::partial_sort(candidates_.begin(), candidates_.begin() + keep,
                      candidates_.end(), byLogit);
  } else {
    std::sort(candidates_.begin(), candidates_.end(), byLogit);
  }
  candidates_.resize(keep);
  // softmax(logits / T) over the candidates, in double.
  const double maxLogit = candidates_.front().first;
  weights_.resize(keep);
  double sum = 0;
  for (size_t i = 0; i < keep; ++i) {
    weights_[i] =
        std::exp((double(candidates_[i].first) - maxLogit) / options_.temperature);
    sum += weights_[i];
  }
  if (options_.topP < 1) {
    double mass = 0;
    size_t n = 0;
    while (n < keep && mass < options_.topP * sum)
      mass += weights_[n++];
    keep = std::max<size_t>(n, 1);
    weights_.resize(keep);
  }
  std::discrete_distribution<size_t> dist(weights_.begin(), weights_.end());
  return candidates_[dist(rng_)].second;
}

} // namespace onebit
