//===- Generator.h - token generation with a KV cache -----------*- C++ -*-===//
//
// Runs a model's KV-cache entries (`@prefill`, `@decode`: docs/design.md,
// "Generation with a KV cache") on one sequence: the caches are allocated
// once for a context size and updated in place, so each new token costs
// one decode step, not a forward pass over the whole window.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_RUNTIME_GENERATOR_H
#define ONEBIT_RUNTIME_GENERATOR_H

#include "onebit/Runtime/Executable.h"
#include "onebit/Runtime/Sampling.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace onebit {

/// The entry names of a model compiled for generation.
inline constexpr const char *kPrefillEntry = "prefill";
inline constexpr const char *kDecodeEntry = "decode";

/// Whether `model` was compiled with both KV-cache entries.
bool hasCacheEntries(const Executable &model);

class Generator {
public:
  ~Generator();
  Generator(const Generator &) = delete;
  Generator &operator=(const Generator &) = delete;

  /// A generator over `model`'s @prefill and @decode with caches of
  /// `context` positions. Null with `error` when the entries are missing or
  /// are not KV-cache entries of one sequence.
  static std::unique_ptr<Generator> create(Executable &model,
                                           int64_t context,
                                           std::string &error);
  /// A generator without a cache, for checking the cached one: every step
  /// runs the full forward `entry` (token ids [1 or ?, ?] -> logits
  /// [1 or ?, ?, vocab]) over the whole sequence so far.
  static std::unique_ptr<Generator> createRecompute(Executable &model,
                                                    const std::string &entry,
                                                    int64_t context,
                                                    std::string &error);

  /// Runs `tokens` from the current position (one @prefill call) and
  /// returns the last one's logits.
  bool prefill(const std::vector<int64_t> &tokens, std::vector<float> &logits,
               std::string &error);
  /// Runs one token at the current position (one @decode call).
  bool decode(int64_t token, std::vector<float> &logits, std::string &error);
  /// Forgets the sequence (the cache is overwritten from position 0).
  void reset() {
    position_ = 0;
    history_.clear();
  }

  int64_t position() const { return position_; }
  int64_t context() const { return context_; }
  int64_t vocab() const { return vocab_; }
  /// Bytes of the two caches.
  int64_t cacheBytes() const;
  /// Whether `prompt` plus `maxTokens` new tokens can be generated: a
  /// non-empty prompt of ids in [0, vocab) that fits the context with them.
  bool checkPrompt(const std::vector<int64_t> &prompt, int64_t maxTokens,
                   std::string &error) const;

private:
  Generator(Executable &model) : model_(model) {}
  bool step(const char *entry, const std::vector<int64_t> &tokens,
            std::vector<float> &logits, std::string &error);

  bool recomputeStep(const std::vector<int64_t> &tokens,
                     std::vector<float> &logits, std::string &error);

  Executable &model_;
  int64_t context_ = 0, vocab_ = 0, position_ = 0;
  std::string recomputeEntry_; ///< set: no cache, full forward every step
  std::vector<int64_t> history_; ///< the sequence so far (recompute only)
  /// @prefill's and @decode's inputs: ids, position (host tensors; the
  /// cache slots of args_ are unused), and the two caches, state memory of
  /// the executable (Executable::allocateState: device memory for a GPU
  /// model), allocated once and shared by both entries, in this order.
  std::vector<HostTensor> args_;
  std::vector<TensorRef> caches_;
  std::vector<HostTensor> results_;
};

struct GenerationStats {
  int64_t promptTokens = 0, generatedTokens = 0;
  double prefillSeconds = 0, decodeSeconds = 0;
};

/// Generates up to `maxTokens` tokens after `prompt` (from position 0):
/// calls `onToken` with each as soon as it is chosen, and the logits it was
/// chosen from; stops after `eosId` (when >= 0; it is passed to onToken) or
/// when onToken returns false.
/// prompt + maxTokens must fit the generator's context.
bool generate(Generator &gen, const std::vector<int64_t> &prompt,
              int64_t maxTokens, Sampler &sampler, int64_t eosId,
              const std::function<bool(int64_t, const std::vector<float> &)> &onToken,
              GenerationStats &stats, std::string &error);

} // namespace onebit

#endif // ONEBIT_RUNTIME_GENERATOR_H
