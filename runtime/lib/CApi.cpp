//===- CApi.cpp - the C API of onebit's runtime (include/onebit-c) --------===//
//
// Thin: handles wrap the C++ runtime (Artifact, Generator, Sampler,
// BPETokenizer), statuses and a per-thread message carry its errors.
//
//===----------------------------------------------------------------------===//

#include "onebit-c/onebit.h"

#include "onebit/Runtime/Artifact.h"
#include "onebit/Runtime/CpuKernels.h"
#include "onebit/Runtime/Generator.h"
#include "onebit/Runtime/Sampling.h"
#include "onebit/Tokenizer/BPETokenizer.h"

#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>

using namespace onebit;

struct onebit_model {
  std::unique_ptr<Artifact> artifact;
  std::unique_ptr<BPETokenizer> tokenizer;
};

struct onebit_generator {
  std::unique_ptr<Generator> generator;
  std::vector<float> logits;
};

struct onebit_sampler {
  explicit onebit_sampler(const SamplingOptions &o) : sampler(o) {}
  Sampler sampler;
};

namespace {

thread_local std::string lastError;

onebit_status fail(onebit_status status, std::string message) {
  lastError = std::move(message);
  return status;
}

onebit_status ok() {
  lastError.clear();
  return ONEBIT_OK;
}

const Executable::Entry *findEntry(const onebit_model *model, const char *name,
                                   onebit_status &status) {
  if (!model || !name) {
    status = fail(ONEBIT_ERROR_INVALID_ARGUMENT, "null model or entry name");
    return nullptr;
  }
  const Executable::Entry *e = model->artifact->find(name);
  if (!e)
    status = fail(ONEBIT_ERROR_INVALID_ARGUMENT,
                  std::string("the model has no entry '") + name + "'");
  return e;
}

onebit_status describe(const TensorSignature &s, onebit_tensor_info *info) {
  if (!info)
    return fail(ONEBIT_ERROR_INVALID_ARGUMENT, "null tensor info");
  if (s.shape.size() > ONEBIT_MAX_RANK)
    return fail(ONEBIT_ERROR_UNSUPPORTED,
                s.name + " has rank " + std::to_string(s.shape.size()) +
                    ", above ONEBIT_MAX_RANK");
  info->name = s.name.c_str();
  info->dtype = onebit_dtype(s.dtype);
  info->rank = int32_t(s.shape.size());
  for (size_t i = 0; i < s.shape.size(); ++i)
    info->shape[i] = s.shape[i];
  return ok();
}

} // namespace

extern "C" {

const char *onebit_last_error(void) { return lastError.c_str(); }

const char *onebit_version(void) { return ONEBIT_VERSION_STRING; }

void onebit_set_num_threads(int threads) {
  onebit_runtime_set_num_threads(threads);
}

onebit_status onebit_model_load(const char *path, onebit_model **model) {
  if (!path || !model)
    return fail(ONEBIT_ERROR_INVALID_ARGUMENT, "null path or model pointer");
  *model = nullptr;
  std::string error;
  auto artifact = Artifact::open(path, error);
  if (!artifact)
    // A file that cannot be read is I/O; one that reads but is refused is
    // the format's.
    return fail(::access(path, R_OK) != 0 ? ONEBIT_ERROR_IO
                                          : ONEBIT_ERROR_FORMAT,
                error);
  auto m = std::make_unique<onebit_model>();
  if (!artifact->tokenizerBytes().empty()) {
    m->tokenizer =
        BPETokenizer::deserialize(artifact->tokenizerBytes(), error);
    if (!m->tokenizer)
      return fail(ONEBIT_ERROR_FORMAT,
                  std::string(path) + ": its tokenizer: " + error);
  }
  m->artifact = std::move(artifact);
  *model = m.release();
  return ok();
}

void onebit_model_free(onebit_model *model) { delete model; }

size_t onebit_model_num_entries(const onebit_model *model) {
  return model ? model->artifact->entries().size() : 0;
}

const char *onebit_model_entry_name(const onebit_model *model, size_t index) {
  if (!model || index >= model->artifact->entries().size())
    return nullptr;
  return model->artifact->entries()[index].name.c_str();
}

onebit_status onebit_model_entry_arity(const onebit_model *model,
                                       const char *entry, size_t *num_inputs,
                                       size_t *num_results) {
  onebit_status status;
  const Executable::Entry *e = findEntry(model, entry, status);
  if (!e)
    return status;
  if (num_inputs)
    *num_inputs = e->inputs.size();
  if (num_results)
    *num_results = e->results.size();
  return ok();
}

/// Argument or result `index` of `entry` (`results` picks which).
static onebit_status entryTensor(const onebit_model *model, const char *entry,
                                 size_t index, bool results,
                                 onebit_tensor_info *info) {
  onebit_status status;
  const Executable::Entry *e = findEntry(model, entry, status);
  if (!e)
    return status;
  const std::vector<TensorSignature> &list = results ? e->results : e->inputs;
  if (index >= list.size())
    return fail(ONEBIT_ERROR_INVALID_ARGUMENT,
                "@" + e->name + " has " + std::to_string(list.size()) +
                    (results ? " results, not " : " inputs, not ") +
                    std::to_string(index + 1));
  return describe(list[index], info);
}

onebit_status onebit_model_entry_input(const onebit_model *model,
                                       const char *entry, size_t index,
                                       onebit_tensor_info *info) {
  return entryTensor(model, entry, index, /*results=*/false, info);
}

onebit_status onebit_model_entry_result(const onebit_model *model,
                                        const char *entry, size_t index,
                                        onebit_tensor_info *info) {
  return entryTensor(model, entry, index, /*results=*/true, info);
}

onebit_status onebit_model_run(onebit_model *model, const char *entry,
                               const onebit_tensor *inputs, size_t num_inputs,
                               onebit_tensor *outputs, size_t num_outputs) {
  onebit_status status;
  const Executable::Entry *e = findEntry(model, entry, status);
  if (!e)
    return status;
  if ((num_inputs && !inputs) || (num_outputs && !outputs))
    return fail(ONEBIT_ERROR_INVALID_ARGUMENT, "null inputs or outputs");
  if (num_outputs != e->results.size())
    return fail(ONEBIT_ERROR_INVALID_ARGUMENT,
                "@" + e->name + " returns " +
                    std::to_string(e->results.size()) + " results but " +
                    std::to_string(num_outputs) + " outputs were given");
  std::vector<TensorRef> refs(num_inputs);
  for (size_t i = 0; i < num_inputs; ++i) {
    const onebit_tensor &t = inputs[i];
    if (t.rank < 0 || t.rank > ONEBIT_MAX_RANK || unsigned(t.dtype) >= unsigned(kNumDTypes) ||
        (!t.data && t.bytes))
      return fail(ONEBIT_ERROR_INVALID_ARGUMENT,
                  "input " + std::to_string(i) +
                      " has an invalid rank, element type or data pointer");
    refs[i].dtype = DType(t.dtype);
    refs[i].shape.assign(t.shape, t.shape + t.rank);
    refs[i].data = t.data;
    refs[i].bytes = t.bytes;
  }
  std::vector<HostTensor> results;
  std::string error;
  // Caller buffers are host memory; a GPU model's caches are device memory.
  if (model->artifact->stateOnDevice() && !e->cacheArgs.empty())
    return fail(ONEBIT_ERROR_UNSUPPORTED,
                "@" + e->name + " takes its KV caches in device memory on "
                "this cuda artifact; generate with onebit_generator_*");
  if (model->artifact->stateOnDevice() && !e->inplaceArgs.empty())
    return fail(ONEBIT_ERROR_UNSUPPORTED,
                "@" + e->name + " updates " +
                    e->inputs[e->inplaceArgs[0]].name +
                    " in device memory on this cuda artifact, not in a "
                    "host buffer");
  if (!model->artifact->runRefs(*e, refs, results, error))
    return fail(ONEBIT_ERROR_INVALID_ARGUMENT, error);
  for (size_t i = 0; i < results.size(); ++i) {
    onebit_tensor &out = outputs[i];
    const HostTensor &r = results[i];
    if (r.shape.size() > ONEBIT_MAX_RANK)
      return fail(ONEBIT_ERROR_UNSUPPORTED,
                  "result " + std::to_string(i) + " has rank " +
                      std::to_string(r.shape.size()) +
                      ", above ONEBIT_MAX_RANK");
    const size_t capacity = out.bytes;
    out.dtype = onebit_dtype(r.dtype);
    out.rank = int32_t(r.shape.size());
    for (size_t k = 0; k < r.shape.size(); ++k)
      out.shape[k] = r.shape[k];
    out.bytes = r.data.size();
    if (capacity < r.data.size() || (!out.data && !r.data.empty()))
      return fail(ONEBIT_ERROR_INVALID_ARGUMENT,
                  "output " + std::to_string(i) + " needs " +
                      std::to_string(r.data.size()) + " bytes, but " +
                      std::to_string(capacity) + " were given");
    if (!r.data.empty())
      std::memcpy(out.data, r.data.data(), r.data.size());
  }
  return ok();
}

int onebit_model_has_tokenizer(const onebit_model *model) {
  return model && model->tokenizer ? 1 : 0;
}

int64_t onebit_model_eos(const onebit_model *model) {
  return model && model->tokenizer ? model->tokenizer->eosId() : -1;
}

onebit_status onebit_tokenize(const onebit_model *model, const char *text,
                              int64_t *ids, size_t capacity, size_t *count) {
  if (!model || !text || !count || (capacity && !ids))
    return fail(ONEBIT_ERROR_INVALID_ARGUMENT, "null argument");
  if (!model->tokenizer)
    return fail(ONEBIT_ERROR_UNSUPPORTED, "the model carries no tokenizer");
  std::vector<int32_t> tokens = model->tokenizer->encode(text, true, true);
  *count = tokens.size();
  for (size_t i = 0; i < tokens.size() && i < capacity; ++i)
    ids[i] = tokens[i];
  return ok();
}

onebit_status onebit_detokenize(const onebit_model *model, const int64_t *ids,
                                size_t count, char *text, size_t capacity,
                                size_t *length) {
  if (!model || (count && !ids) || !length || (capacity && !text))
    return fail(ONEBIT_ERROR_INVALID_ARGUMENT, "null argument");
  if (!model->tokenizer)
    return fail(ONEBIT_ERROR_UNSUPPORTED, "the model carries no tokenizer");
  std::vector<int32_t> tokens;
  for (size_t i = 0; i < count; ++i) {
    if (ids[i] < 0 || uint64_t(ids[i]) >= model->tokenizer->vocabSize())
      return fail(ONEBIT_ERROR_INVALID_ARGUMENT,
                  "token " + std::to_string(ids[i]) +
                      " is outside the vocabulary of " +
                      std::to_string(model->tokenizer->vocabSize()));
    tokens.push_back(int32_t(ids[i]));
  }
  std::string s = model->tokenizer->decode(tokens);
  *length = s.size();
  if (capacity < s.size() + 1)
    return fail(ONEBIT_ERROR_INVALID_ARGUMENT,
                "the text needs " + std::to_string(s.size() + 1) +
                    " bytes, but " + std::to_string(capacity) +
                    " were given");
  std::memcpy(text, s.c_str(), s.size() + 1);
  return ok();
}

onebit_status onebit_generator_create(onebit_model *model, int64_t context,
                                      onebit_generator **generator) {
  if (!model || !generator)
    return fail(ONEBIT_ERROR_INVALID_ARGUMENT, "null model or generator");
  *generator = nullptr;
  if (context <= 0)
    return fail(ONEBIT_ERROR_INVALID_ARGUMENT,
                "the context must hold at least one token");
  if (!hasCacheEntries(*model->artifact))
    return fail(ONEBIT_ERROR_UNSUPPORTED,
                "the model has no KV-cache entries (@prefill and @decode); "
                "compile it from a GGUF model, or with --entries "
                "prefill,decode");
  std::string error;
  auto gen = Generator::create(*model->artifact, context, error);
  if (!gen)
    return fail(ONEBIT_ERROR_UNSUPPORTED, error);
  auto g = std::make_unique<onebit_generator>();
  g->generator = std::move(gen);
  *generator = g.release();
  return ok();
}

void onebit_generator_free(onebit_generator *generator) { delete generator; }

int64_t onebit_generator_vocab(const onebit_generator *generator) {
  return generator ? generator->generator->vocab() : 0;
}

int64_t onebit_generator_position(const onebit_generator *generator) {
  return generator ? generator->generator->position() : 0;
}

void onebit_generator_reset(onebit_generator *generator) {
  if (generator)
    generator->generator->reset();
}

static onebit_status finishStep(onebit_generator *g, bool done,
                                const std::string &error, float *logits) {
  if (!done)
    return fail(ONEBIT_ERROR_INVALID_ARGUMENT, error);
  if (logits)
    std::memcpy(logits, g->logits.data(), g->logits.size() * sizeof(float));
  return ok();
}

onebit_status onebit_generator_prefill(onebit_generator *generator,
                                       const int64_t *tokens, size_t count,
                                       float *logits) {
  if (!generator || (count && !tokens))
    return fail(ONEBIT_ERROR_INVALID_ARGUMENT, "null generator or tokens");
  if (count == 0)
    return fail(ONEBIT_ERROR_INVALID_ARGUMENT, "no tokens to prefill");
  std::string error;
  std::vector<int64_t> ids(tokens, tokens + count);
  bool done = generator->generator->prefill(ids, generator->logits, error);
  return finishStep(generator, done, error, logits);
}

onebit_status onebit_generator_decode(onebit_generator *generator,
                                      int64_t token, float *logits) {
  if (!generator)
    return fail(ONEBIT_ERROR_INVALID_ARGUMENT, "null generator");
  std::string error;
  bool done = generator->generator->decode(token, generator->logits, error);
  return finishStep(generator, done, error, logits);
}

onebit_status onebit_sampler_create(const onebit_sampling *options,
                                    onebit_sampler **sampler) {
  if (!options || !sampler)
    return fail(ONEBIT_ERROR_INVALID_ARGUMENT, "null options or sampler");
  *sampler = nullptr;
  SamplingOptions o;
  o.temperature = options->temperature;
  o.topK = options->top_k;
  o.topP = options->top_p;
  o.seed = options->seed;
  if (std::string why = o.validate(); !why.empty())
    return fail(ONEBIT_ERROR_INVALID_ARGUMENT, why);
  *sampler = new onebit_sampler(o);
  return ok();
}

void onebit_sampler_free(onebit_sampler *sampler) { delete sampler; }

int64_t onebit_sampler_pick(onebit_sampler *sampler, const float *logits,
                            int64_t vocab) {
  if (!sampler || !logits || vocab <= 0)
    return -1;
  return sampler->sampler.pick(logits, vocab);
}

onebit_status onebit_generate(onebit_generator *generator,
                              const int64_t *prompt, size_t count,
                              int64_t max_tokens, onebit_sampler *sampler,
                              int64_t eos, onebit_token_callback callback,
                              void *user, int64_t *generated) {
  if (!generator || !sampler || (count && !prompt))
    return fail(ONEBIT_ERROR_INVALID_ARGUMENT,
                "null generator, sampler or prompt");
  if (generated)
    *generated = 0;
  std::vector<int64_t> ids(prompt, prompt + count);
  GenerationStats stats;
  std::string error;
  generator->generator->reset();
  bool done = generate(
      *generator->generator, ids, max_tokens, sampler->sampler, eos,
      [&](int64_t token, const std::vector<float> &) {
        return callback ? callback(token, user) != 0 : true;
      },
      stats, error);
  if (generated)
    *generated = stats.generatedTokens;
  if (!done)
    return fail(ONEBIT_ERROR_INVALID_ARGUMENT, error);
  return ok();
}

} // extern "C"
