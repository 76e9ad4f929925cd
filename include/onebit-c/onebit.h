/*===- onebit.h - the C API of onebit's runtime ---------------------------===*
 *
 * Loads compiled models (.onebit artifacts, written by onebit-compile) and
 * runs them: entries on caller-owned buffers, and token generation with a
 * KV cache. A program using it links libonebit.so (and, through it, the
 * kernel library libonebit_runtime.so): no MLIR or LLVM.
 *
 * Conventions: every function that can fail returns an onebit_status;
 * ONEBIT_OK is 0. On failure, onebit_last_error() gives the message (per
 * thread, valid until the thread's next call into this API). Bad input
 * (a file that is not an artifact, a truncated one, code for CPU features
 * this machine lacks, wrong shapes or element types, a token outside the
 * vocabulary, a full context) is an error, never an abort. Handles are
 * opaque; each *_free accepts NULL. A model may be used by one thread at a
 * time (its entries use the kernel library's thread pool).
 *
 *===----------------------------------------------------------------------===*/

#ifndef ONEBIT_C_ONEBIT_H
#define ONEBIT_C_ONEBIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define ONEBIT_API __attribute__((visibility("default")))
#else
#define ONEBIT_API
#endif

typedef enum onebit_status {
  ONEBIT_OK = 0,
  /* A file could not be opened or read. */
  ONEBIT_ERROR_IO = 1,
  /* The file is not an artifact this runtime reads: not one at all,
   * truncated, corrupt, another format or runtime version, code for CPU
   * features this machine lacks, or a cuda artifact on a machine without
   * a usable CUDA driver and GPU, or with a GPU older than its chip. */
  ONEBIT_ERROR_FORMAT = 2,
  /* An argument is wrong: a null pointer, an unknown entry, a tensor of the
   * wrong element type or shape, a buffer too small, a token outside the
   * vocabulary, a context too small. */
  ONEBIT_ERROR_INVALID_ARGUMENT = 3,
  /* The model cannot do what was asked (no KV-cache entries, no
   * tokenizer). */
  ONEBIT_ERROR_UNSUPPORTED = 4,
} onebit_status;

/* Element types, as in onebit's HostTensor (the values are stable). */
typedef enum onebit_dtype {
  ONEBIT_F32 = 0,
  ONEBIT_F16 = 1,
  ONEBIT_F64 = 2,
  ONEBIT_I64 = 3,
  ONEBIT_I32 = 4,
  ONEBIT_BOOL = 5,
  ONEBIT_I16 = 6,
  ONEBIT_I8 = 7,
  ONEBIT_U8 = 8,
  ONEBIT_U16 = 9,
  ONEBIT_U32 = 10,
  ONEBIT_U64 = 11,
  ONEBIT_BF16 = 12,
} onebit_dtype;

#define ONEBIT_MAX_RANK 8
/* A dimension an entry's signature leaves open. */
#define ONEBIT_DYNAMIC_DIM INT64_MIN

/* A tensor in caller memory, row-major. As an input, `data` holds `bytes`
 * bytes of `shape`; an entry that updates an input in place (a KV cache)
 * writes into it. As an output, the caller gives `data` and its capacity
 * in `bytes`; the run writes the result's shape and sets `bytes` to its
 * size (also when the capacity is too small, which is an error). */
typedef struct onebit_tensor {
  onebit_dtype dtype;
  int32_t rank;
  int64_t shape[ONEBIT_MAX_RANK];
  void *data;
  size_t bytes;
} onebit_tensor;

/* An argument or result of an entry. `shape` holds ONEBIT_DYNAMIC_DIM for
 * open dimensions. `name` lives as long as the model. */
typedef struct onebit_tensor_info {
  const char *name;
  onebit_dtype dtype;
  int32_t rank;
  int64_t shape[ONEBIT_MAX_RANK];
} onebit_tensor_info;

typedef struct onebit_model onebit_model;
typedef struct onebit_generator onebit_generator;
typedef struct onebit_sampler onebit_sampler;

/* The message of the calling thread's last failure ("" if none). */
ONEBIT_API const char *onebit_last_error(void);
/* The runtime's version, e.g. "0.1.0". */
ONEBIT_API const char *onebit_version(void);
/* Threads of the 1-bit and dense kernels (<= 0: all hardware threads). */
ONEBIT_API void onebit_set_num_threads(int threads);

/*---- Models ------------------------------------------------------------*/

/* Loads the artifact at `path`: its code is loaded and its constants are
 * mapped, not copied; nothing is compiled. */
ONEBIT_API onebit_status onebit_model_load(const char *path,
                                           onebit_model **model);
ONEBIT_API void onebit_model_free(onebit_model *model);

ONEBIT_API size_t onebit_model_num_entries(const onebit_model *model);
/* The name of entry `index` (NULL when out of range). */
ONEBIT_API const char *onebit_model_entry_name(const onebit_model *model,
                                               size_t index);
/* The inputs an entry takes and the results it returns (results it writes
 * into an input in place are not among them). */
ONEBIT_API onebit_status onebit_model_entry_arity(const onebit_model *model,
                                                  const char *entry,
                                                  size_t *num_inputs,
                                                  size_t *num_results);
ONEBIT_API onebit_status onebit_model_entry_input(const onebit_model *model,
                                                  const char *entry,
                                                  size_t index,
                                                  onebit_tensor_info *info);
ONEBIT_API onebit_status onebit_model_entry_result(const onebit_model *model,
                                                   const char *entry,
                                                   size_t index,
                                                   onebit_tensor_info *info);

/* Runs `entry` on `inputs` and writes its results into `outputs` (see
 * onebit_tensor). Inputs are checked against the signature first: count,
 * element types, shapes, sizes, index ranges, KV-cache positions. */
ONEBIT_API onebit_status onebit_model_run(onebit_model *model,
                                          const char *entry,
                                          const onebit_tensor *inputs,
                                          size_t num_inputs,
                                          onebit_tensor *outputs,
                                          size_t num_outputs);

/*---- Tokenizer (models compiled from a GGUF file carry theirs) ---------*/

/* Whether the model carries a tokenizer. */
ONEBIT_API int onebit_model_has_tokenizer(const onebit_model *model);
/* The token ids of UTF-8 `text` (with the BOS token when the model's
 * tokenizer adds one): up to `capacity` go to `ids`, and `*count` is set
 * to how many there are (so a first call with capacity 0 sizes the
 * buffer). */
ONEBIT_API onebit_status onebit_tokenize(const onebit_model *model,
                                         const char *text, int64_t *ids,
                                         size_t capacity, size_t *count);
/* The UTF-8 text of `ids`, NUL-terminated, into `text` (of `capacity`
 * bytes); `*length` is set to the text's length without the NUL. */
ONEBIT_API onebit_status onebit_detokenize(const onebit_model *model,
                                           const int64_t *ids, size_t count,
                                           char *text, size_t capacity,
                                           size_t *length);
/* The end-of-sequence token, or -1. */
ONEBIT_API int64_t onebit_model_eos(const onebit_model *model);

/*---- Generation with a KV cache ----------------------------------------*/

/* A generator over the model's @prefill and @decode entries with caches
 * of `context` positions (allocated once). The model must outlive it. */
ONEBIT_API onebit_status onebit_generator_create(onebit_model *model,
                                                 int64_t context,
                                                 onebit_generator **generator);
ONEBIT_API void onebit_generator_free(onebit_generator *generator);
ONEBIT_API int64_t onebit_generator_vocab(const onebit_generator *generator);
ONEBIT_API int64_t
onebit_generator_position(const onebit_generator *generator);
/* Forgets the sequence: the next prefill starts at position 0. */
ONEBIT_API void onebit_generator_reset(onebit_generator *generator);
/* Runs `count` tokens from the current position; the last one's logits
 * (vocab floats) go to `logits` when it is not NULL. */
ONEBIT_API onebit_status onebit_generator_prefill(onebit_generator *generator,
                                                  const int64_t *tokens,
                                                  size_t count, float *logits);
/* Runs one token at the current position. */
ONEBIT_API onebit_status onebit_generator_decode(onebit_generator *generator,
                                                 int64_t token, float *logits);

typedef struct onebit_sampling {
  double temperature; /* <= 0: greedy */
  int64_t top_k;      /* 0: every token */
  double top_p;       /* in (0, 1]; 1: every token */
  uint64_t seed;
} onebit_sampling;

ONEBIT_API onebit_status onebit_sampler_create(const onebit_sampling *options,
                                               onebit_sampler **sampler);
ONEBIT_API void onebit_sampler_free(onebit_sampler *sampler);
/* The next token from `vocab` logits (-1 when none is finite). */
ONEBIT_API int64_t onebit_sampler_pick(onebit_sampler *sampler,
                                       const float *logits, int64_t vocab);

/* Called with each generated token; return non-zero to go on, 0 to stop. */
typedef int (*onebit_token_callback)(int64_t token, void *user);

/* Generates up to `max_tokens` tokens after `prompt` from position 0:
 * prefill, then one decode per token, each chosen by `sampler` and passed
 * to `callback`; stops after `eos` (when >= 0). The prompt and the new
 * tokens must fit the generator's context. `*generated` (may be NULL) is
 * set to the number of tokens generated. */
ONEBIT_API onebit_status onebit_generate(onebit_generator *generator,
                                         const int64_t *prompt, size_t count,
                                         int64_t max_tokens,
                                         onebit_sampler *sampler, int64_t eos,
                                         onebit_token_callback callback,
                                         void *user, int64_t *generated);

#ifdef __cplusplus
}
#endif

#endif /* ONEBIT_C_ONEBIT_H */
