/* Exercises the C API's calls and its errors (test/Artifact/c-api-errors.test):
 *   onebit-capi-check BLOCK.onebit LLAMA.onebit
 * BLOCK is examples/tiny-decoder-block.mlir compiled (one entry, 4x32 f32 in
 * and out); LLAMA a tiny llama with KV-cache entries and no tokenizer. Every
 * line it prints is checked by FileCheck; it exits non-zero only when a call
 * that must succeed fails. */
#include "onebit-c/onebit.h"

#include <stdio.h>
#include <string.h>

static void report(const char *what, onebit_status s) {
  printf("%s: status %d: %s\n", what, (int)s, onebit_last_error());
}

int main(int argc, char **argv) {
  if (argc != 3)
    return 2;
  onebit_model *block = NULL, *llama = NULL, *none = NULL;
  report("missing file", onebit_model_load("/nonexistent/m.onebit", &none));
  report("not an artifact", onebit_model_load(argv[0], &none));
  if (onebit_model_load(argv[1], &block) != ONEBIT_OK ||
      onebit_model_load(argv[2], &llama) != ONEBIT_OK) {
    fprintf(stderr, "load: %s\n", onebit_last_error());
    return 1;
  }
  /* Signatures. */
  size_t ni = 0, nr = 0;
  onebit_model_entry_arity(block, "main", &ni, &nr);
  onebit_tensor_info info;
  onebit_model_entry_input(block, "main", 0, &info);
  printf("block: %zu entries, @%s takes %zu, returns %zu; input %s rank %d "
         "%lldx%lld dtype %d\n",
         onebit_model_num_entries(block), onebit_model_entry_name(block, 0),
         ni, nr, info.name, info.rank, (long long)info.shape[0],
         (long long)info.shape[1], (int)info.dtype);
  report("input 5", onebit_model_entry_input(block, "main", 5, &info));
  report("entry nosuch", onebit_model_entry_arity(block, "nosuch", &ni, &nr));

  /* A run on caller buffers. */
  static float x[4 * 32], y[1024];
  for (int i = 0; i < 4 * 32; ++i)
    x[i] = (float)(i % 7) * 0.25f - 0.5f;
  onebit_tensor in = {ONEBIT_F32, 2, {4, 32}, x, sizeof(x)};
  onebit_tensor out = {ONEBIT_F32, 0, {0}, y, sizeof(y)};
  onebit_status s = onebit_model_run(block, "main", &in, 1, &out, 1);
  if (s != ONEBIT_OK) {
    report("run", s);
    return 1;
  }
  printf("run: rank %d %lldx%lld, %zu bytes; y[0] %.6e y[1] %.6e\n",
         out.rank, (long long)out.shape[0], (long long)out.shape[1],
         out.bytes, y[0], y[1]);

  /* What it refuses. */
  onebit_tensor small = {ONEBIT_F32, 0, {0}, y, 16};
  report("small output", onebit_model_run(block, "main", &in, 1, &small, 1));
  printf("small output: needs %zu bytes\n", small.bytes);
  onebit_tensor narrow = {ONEBIT_F32, 2, {4, 31}, x, 4 * 31 * 4};
  report("shape", onebit_model_run(block, "main", &narrow, 1, &out, 1));
  onebit_tensor ints = {ONEBIT_I32, 2, {4, 32}, x, sizeof(x)};
  report("dtype", onebit_model_run(block, "main", &ints, 1, &out, 1));
  onebit_tensor lying = {ONEBIT_F32, 2, {4, 32}, x, 8};
  report("bytes", onebit_model_run(block, "main", &lying, 1, &out, 1));
  report("count", onebit_model_run(block, "main", &in, 1, &out, 0));
  report("null", onebit_model_run(block, NULL, &in, 1, &out, 1));
  report("no tokenizer", onebit_tokenize(llama, "hi", NULL, 0, &ni));
  onebit_generator *nogen = NULL;
  report("block generator", onebit_generator_create(block, 8, &nogen));

  /* Generation and its limits. */
  onebit_generator *g = NULL;
  report("context 0", onebit_generator_create(llama, 0, &g));
  if (onebit_generator_create(llama, 4, &g) != ONEBIT_OK) {
    report("generator", ONEBIT_ERROR_UNSUPPORTED);
    return 1;
  }
  static float logits[4096];
  int64_t bad[2] = {1, 100000};
  report("vocab", onebit_generator_prefill(g, bad, 2, logits));
  int64_t prompt[3] = {1, 2, 3};
  report("prefill", onebit_generator_prefill(g, prompt, 3, logits));
  report("decode", onebit_generator_decode(g, 4, logits));
  report("past the context", onebit_generator_decode(g, 5, logits));
  printf("position %lld vocab %lld\n", (long long)onebit_generator_position(g),
         (long long)onebit_generator_vocab(g));
  onebit_sampling bad_p = {0.5, 0, 0.0, 0};
  onebit_sampler *sampler = NULL;
  report("top-p", onebit_sampler_create(&bad_p, &sampler));
  onebit_generator_free(g);
  onebit_generator_free(NULL);
  onebit_model_free(block);
  onebit_model_free(llama);
  onebit_model_free(NULL);
  return 0;
}
