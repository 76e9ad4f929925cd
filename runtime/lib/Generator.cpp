//===- Generator.cpp - token generation with a KV cache -------------------===//

#include "onebit/Runtime/Generator.h"


#include <chrono>
#include <cstring>

namespace onebit {

bool hasCacheEntries(const Executable &model) {
  return model.find(kPrefillEntry) && model.find(kDecodeEntry);
}

/// What Generator needs of a KV-cache entry: ids [1 or ?, T], a position,
/// two caches [L, 1 or ?, ?, ...] of f32 or f16, logits [1 or ?, V].
static bool checkEntry(const Executable::Entry &e, std::string &error) {
  auto fail = [&](const std::string &why) {
    error = "@" + e.name + " is not a KV-cache entry onebit can drive: " + why;
    return false;
  };
  if (e.inputs.size() != 4 || e.tokensArg != 0 || e.positionArg != 1 ||
      e.cacheArgs != std::vector<int>{2, 3})
    return fail("it must take (input_ids, pos, k_cache, v_cache)");
  if (e.results.size() != 1 || e.results[0].shape.size() != 2 ||
      e.results[0].dtype != DType::F32 ||
      isDynamicDim(e.results[0].shape[1]))
    return fail("it must return logits [batch, vocab] of f32");
  for (int c : e.cacheArgs) {
    const TensorSignature &s = e.inputs[c];
    if ((s.dtype != DType::F32 && s.dtype != DType::F16) ||
        !isDynamicDim(s.shape[2]))
      return fail(s.name + " must be f32 or f16 with a dynamic context size");
    for (size_t d = 0; d < s.shape.size(); ++d)
      if (d != 2 && isDynamicDim(s.shape[d]) && d != 1)
        return fail(s.name + " has a dynamic size besides batch and context");
  }
  int64_t batch = e.inputs[0].shape[0];
  if (!isDynamicDim(batch) && batch != 1)
    return fail("it is compiled for a batch of " + std::to_string(batch) +
                " sequences; generation runs one");
  return true;
}

std::unique_ptr<Generator> Generator::create(Executable &model,
                                             int64_t context,
                                             std::string &error) {
  const Executable::Entry *prefill = model.find(kPrefillEntry);
  const Executable::Entry *decode = model.find(kDecodeEntry);
  if (!prefill || !decode) {
    error = "the model has no KV-cache entries (@prefill and @decode); "
            "import a GGUF model, or an ONNX decoder exported with past "
            "key/values, with --kv-cache";
    return nullptr;
  }
  if (!checkEntry(*prefill, error) || !checkEntry(*decode, error))
    return nullptr;
  if (prefill->inputs[2].shape != decode->inputs[2].shape ||
      prefill->inputs[2].dtype != decode->inputs[2].dtype ||
      prefill->inputs[3].dtype != decode->inputs[3].dtype ||
      prefill->results[0].shape[1] != decode->results[0].shape[1]) {
    error = "@prefill and @decode disagree on the cache or vocabulary shape";
    return nullptr;
  }
  if (context <= 0) {
    error = "the context size must be positive";
    return nullptr;
  }
  std::unique_ptr<Generator> gen(new Generator(model));
  gen->context_ = context;
  gen->vocab_ = prefill->results[0].shape[1];
  gen->args_.resize(2);
  gen->args_[1].dtype = prefill->inputs[1].dtype;
  gen->args_[1].data.assign(dtypeSize(gen->args_[1].dtype), 0);
  // The caches, once per context: in device memory for a GPU model, so a
  // step moves only the token ids, the position and the logits.
  gen->caches_.resize(2);
  for (int c = 2; c < 4; ++c) {
    TensorRef &cache = gen->caches_[c - 2];
    cache.dtype = prefill->inputs[c].dtype;
    cache.shape = prefill->inputs[c].shape;
    cache.shape[1] = 1;
    cache.shape[2] = context;
    int64_t bytes;
    if (!checkedByteSize(cache.shape, cache.dtype, bytes) ||
        bytes > (int64_t(1) << 40)) {
      error = "a KV cache of " + std::to_string(context) +
              " positions is too large";
      return nullptr;
    }
    std::string why;
    cache.data = model.allocateState(size_t(bytes), why);
    if (!cache.data) {
      error = "the KV cache of " + std::to_string(context) +
              " positions: " + why;
      return nullptr;
    }
    cache.bytes = size_t(bytes);
  }
  return gen;
}

std::unique_ptr<Generator> Generator::createRecompute(Executable &model,
                                                      const std::string &entry,
                                                      int64_t context,
                                                      std::string &error) {
  const Executable::Entry *e = model.find(entry);
  if (!e) {
    error = "@" + entry + " was not compiled";
    return nullptr;
  }
  auto dyn = [](int64_t d) { return isDynamicDim(d); };
  if (e->inputs.size() != 1 || e->inputs[0].shape.size() != 2 ||
      (e->inputs[0].dtype != DType::I64 && e->inputs[0].dtype != DType::I32) ||
      !dyn(e->inputs[0].shape[1]) || e->results.size() != 1 ||
      e->results[0].shape.size() != 3 || e->results[0].dtype != DType::F32 ||
      dyn(e->results[0].shape[2])) {
    error = "@" + entry + " is not a full forward: token ids [batch, ?] -> "
            "logits [batch, ?, vocab] of f32";
    return nullptr;
  }
  if (context <= 0) {
    error = "the context size must be positive";
    return nullptr;
  }
  std::unique_ptr<Generator> gen(new Generator(model));
  gen->recomputeEntry_ = entry;
  gen->context_ = context;
  gen->vocab_ = e->results[0].shape[2];
  gen->args_.resize(1);
  gen->args_[0].dtype = e->inputs[0].dtype;
  return gen;
}

Generator::~Generator() {
  for (TensorRef &cache : caches_)
    if (cache.data)
      model_.freeState(cache.data);
}

int64_t Generator::cacheBytes() const {
  int64_t bytes = 0;
  for (const TensorRef &cache : caches_)
    bytes += int64_t(cache.bytes);
  return bytes;
}

/// Fills `ids` ([1, tokens.size()]) with `tokens` in its dtype.
static void fillIds(HostTensor &ids, const std::vector<int64_t> &tokens) {
  ids.shape = {1, int64_t(tokens.size())};
  ids.data.resize(tokens.size() * dtypeSize(ids.dtype));
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (ids.dtype == DType::I32) {
      int32_t v = int32_t(tokens[i]);
      std::memcpy(ids.data.data() + 4 * i, &v, 4);
    } else {
      std::memcpy(ids.data.data() + 8 * i, &tokens[i], 8);
    }
  }
}

bool Generator::recomputeStep(const std::vector<int64_t> &tokens,
                              std::vector<float> &logits,
                              std::string &error) {
  history_.insert(history_.end(), tokens.begin(), tokens.end());
  fillIds(args_[0], history_);
  if (!model_.run(recomputeEntry_, args_, results_, error))
    return false;
  const HostTensor &out = results_[0];
  logits.resize(size_t(vocab_));
  std::memcpy(logits.data(),
              out.data.data() + (history_.size() - 1) * vocab_ * sizeof(float),
              size_t(vocab_) * sizeof(float));
  position_ += int64_t(tokens.size());
  return true;
}

bool Generator::step(const char *entry, const std::vector<int64_t> &tokens,
                     std::vector<float> &logits, std::string &error) {
  if (tokens.empty()) {
    error = "no tokens to run";
    return false;
  }
  if (int64_t(tokens.size()) > context_ - position_) {
    error = "positions " + std::to_string(position_) + " to " +
            std::to_string(position_ + int64_t(tokens.size()) - 1) +
            " do not fit the context of " + std::to_string(context_) +
            " tokens";
    return false;
  }
  if (!recomputeEntry_.empty())
    return recomputeStep(tokens, logits, error);
  const Executable::Entry *e = model_.find(entry);
  HostTensor &ids = args_[0];
  ids.dtype = e->inputs[0].dtype;
  fillIds(ids, tokens);
  HostTensor &pos = args_[1];
  if (pos.dtype == DType::I32) {
    int32_t v = int32_t(position_);
    std::memcpy(pos.data.data(), &v, 4);
  } else {
    std::memcpy(pos.data.data(), &position_, 8);
  }
  std::vector<TensorRef> refs(4);
  for (int i = 0; i < 2; ++i) {
    refs[i].dtype = args_[i].dtype;
    refs[i].shape = args_[i].shape;
    refs[i].data = args_[i].data.data();
    refs[i].bytes = args_[i].data.size();
  }
  refs[2] = caches_[0];
  refs[3] = caches_[1];
  if (!model_.runRefs(*e, refs, results_, error))
    return false;
  const HostTensor &out = results_[0];
  logits.resize(size_t(vocab_));
  std::memcpy(logits.data(), out.data.data(), size_t(vocab_) * sizeof(float));
  position_ += int64_t(tokens.size());
  return true;
}

bool Generator::prefill(const std::vector<int64_t> &tokens,
                        std::vector<float> &logits, std::string &error) {
  return step(kPrefillEntry, tokens, logits, error);
}

bool Generator::decode(int64_t token, std::vector<float> &logits,
                       std::string &error) {
  return step(kDecodeEntry, {token}, logits, error);
}

bool Generator::checkPrompt(const std::vector<int64_t> &prompt,
                            int64_t maxTokens, std::string &error) const {
  if (prompt.empty()) {
    error = "the prompt is empty";
    return false;
  }
  if (maxTokens < 0 || int64_t(prompt.size()) > context_ ||
      maxTokens > context_ - int64_t(prompt.size())) {
    error = "the prompt (" + std::to_string(prompt.size()) + " tokens) and " +
            std::to_string(maxTokens) + " new tokens do not fit the context "
            "of " + std::to_string(context_) + " tokens (--ctx)";
    return false;
  }
  for (int64_t id : prompt)
    if (id < 0 || id >= vocab_) {
      error = "prompt token " + std::to_string(id) +
              " is outside the model's vocabulary of " +
              std::to_string(vocab_) + " tokens";
      return false;
    }
  return true;
}

bool generate(Generator &gen, const std::vector<int64_t> &prompt,
              int64_t maxTokens, Sampler &sampler, int64_t eosId,
              const std::function<bool(int64_t, const std::vector<float> &)> &onToken,
              GenerationStats &stats, std::string &error) {
  stats = GenerationStats();
  if (!gen.checkPrompt(prompt, maxTokens, error))
    return false;
  using clock = std::chrono::steady_clock;
  auto seconds = [](clock::time_point since) {
    return std::chrono::duration<double>(clock::now() - since).count();
  };
  gen.reset();
  std::vector<float> logits;
  auto t0 = clock::now();
  if (!gen.prefill(prompt, logits, error))
    return false;
  stats.prefillSeconds = seconds(t0);
  stats.promptTokens = int64_t(prompt.size());
  auto t1 = clock::now();
  for (int64_t n = 0; n < maxTokens; ++n) {
    int64_t next = sampler.pick(logits.data(), gen.vocab());
    if (next < 0) {
      error = "the model returned no finite logit at position " +
              std::to_string(gen.position() - 1);
      return false;
    }
    ++stats.generatedTokens;
    if (!onToken(next, logits) || next == eosId || n + 1 == maxTokens)
      break;
    if (!gen.decode(next, logits, error))
      return false;
  }
  stats.decodeSeconds = seconds(t1);
  return true;
}

} // namespace onebit
