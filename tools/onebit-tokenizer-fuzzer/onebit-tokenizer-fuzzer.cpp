//===- onebit-tokenizer-fuzzer.cpp - libFuzzer entry for tokenizer.json ---===//
//
// Feeds arbitrary bytes to the tokenizer readers: the serialized form a model
// carries (BPETokenizer::deserialize) when the input starts with its magic,
// else a Hugging Face tokenizer.json. The bytes before the first NUL are the
// tokenizer; those after it are text to encode, so the encoder and decoder of
// every tokenizer that loads are fuzzed too.
// Run: onebit-tokenizer-fuzzer -max_len=65536 CORPUS_DIR
//
//===----------------------------------------------------------------------===//

#include "onebit/Tokenizer/TokenizerLoader.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char *>(data), size);
  size_t nul = bytes.find('\0');
  std::string_view json = bytes.substr(0, nul);
  std::string_view text = nul == std::string_view::npos
                              ? std::string_view("Hello, world! 123")
                              : bytes.substr(nul + 1);
  std::string error;
  auto tok = json.substr(0, 10) == "ONEBITTOK1"
                 ? onebit::BPETokenizer::deserialize(json, error)
                 : onebit::tokenizerFromHFJsonText(json, "fuzz.json", error);
  if (!tok)
    return 0;
  for (bool special : {true, false}) {
    std::vector<int32_t> ids = tok->encode(text, special);
    (void)tok->decode(ids);
  }
  return 0;
}
