/*===- generate.c - generate text from a .onebit artifact with the C API ---===*
 *
 *   onebit-example-generate MODEL.onebit PROMPT [MAX_TOKENS] [--ids]
 *
 * Loads a compiled model (onebit-compile MODEL.gguf -o MODEL.onebit), tokenizes
 * the prompt with the tokenizer the model carries, and streams a greedy
 * continuation to stdout (with --ids, the token ids). Links libonebit only:
 *
 *   cc generate.c -I include -L build/lib -lonebit -o generate
 *
 *===----------------------------------------------------------------------===*/

#include "onebit-c/onebit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct stream {
  const onebit_model *model;
  int64_t *ids;
  size_t count;
  size_t printed; /* bytes of text already printed */
  int print_ids;
};

/* Prints what the new token adds to the text (a character may span tokens,
 * so the whole continuation is decoded each time). */
static int on_token(int64_t token, void *user) {
  struct stream *s = user;
  s->ids[s->count++] = token;
  if (s->print_ids) {
    printf("%s%lld", s->count > 1 ? " " : "", (long long)token);
    fflush(stdout);
    return 1;
  }
  if (token == onebit_model_eos(s->model))
    return 1;
  size_t length = 0;
  onebit_detokenize(s->model, s->ids, s->count, NULL, 0, &length);
  char *text = malloc(length + 1);
  if (text && onebit_detokenize(s->model, s->ids, s->count, text, length + 1,
                                &length) == ONEBIT_OK &&
      length > s->printed) {
    fwrite(text + s->printed, 1, length - s->printed, stdout);
    fflush(stdout);
    s->printed = length;
  }
  free(text);
  return 1;
}

static int die(const char *what) {
  fprintf(stderr, "onebit-example-generate: %s: %s\n", what,
          onebit_last_error());
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s MODEL.onebit PROMPT [MAX_TOKENS] [--ids]\n",
            argv[0]);
    return 2;
  }
  int64_t max_tokens = argc > 3 ? atoll(argv[3]) : 32;
  int print_ids = argc > 4 && strcmp(argv[4], "--ids") == 0;
  if (max_tokens <= 0) {
    fprintf(stderr, "onebit-example-generate: MAX_TOKENS must be positive\n");
    return 2;
  }

  onebit_model *model = NULL;
  if (onebit_model_load(argv[1], &model) != ONEBIT_OK)
    return die("load");
  size_t count = 0;
  if (onebit_tokenize(model, argv[2], NULL, 0, &count) != ONEBIT_OK) {
    onebit_model_free(model);
    return die("tokenize");
  }
  int64_t *prompt = malloc((count ? count : 1) * sizeof(int64_t));
  int64_t *generated = malloc((size_t)max_tokens * sizeof(int64_t));
  onebit_tokenize(model, argv[2], prompt, count, &count);

  onebit_generator *generator = NULL;
  onebit_sampler *sampler = NULL;
  onebit_sampling greedy = {0.0, 0, 1.0, 0};
  int rc = 0;
  struct stream s = {model, generated, 0, 0, print_ids};
  int64_t n = 0;
  if (onebit_generator_create(model, (int64_t)count + max_tokens,
                              &generator) != ONEBIT_OK)
    rc = die("generator");
  else if (onebit_sampler_create(&greedy, &sampler) != ONEBIT_OK)
    rc = die("sampler");
  else if (onebit_generate(generator, prompt, count, max_tokens, sampler,
                           onebit_model_eos(model), on_token, &s,
                           &n) != ONEBIT_OK)
    rc = die("generate");
  if (rc == 0) {
    printf("\n");
    fprintf(stderr, "onebit-example-generate: %lld prompt tokens, %lld "
                    "generated\n",
            (long long)count, (long long)n);
  }
  onebit_sampler_free(sampler);
  onebit_generator_free(generator);
  onebit_model_free(model);
  free(prompt);
  free(generated);
  return rc;
}
