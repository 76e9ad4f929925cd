//===- BPETokenizer.h - byte-level BPE tokenizer ----------------*- C++ -*-===//
//
// The GPT-2 style byte-level BPE tokenizer that GGUF `gpt2` vocabularies
// (LLaMA-3, SmolLM, Qwen2, GPT-2 ...) use: special-token splitting, a
// regex-equivalent pre-tokenizer, byte-to-unicode mapping and rank-ordered
// merges. Plain C++ with no LLVM or MLIR (library OneBitTokenizerCore), so
// that a runtime library which must not link libLLVM can tokenize; reading
// GGUF files and tokenizer.json lives in TokenizerLoader.h.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_TOKENIZER_BPETOKENIZER_H
#define ONEBIT_TOKENIZER_BPETOKENIZER_H

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace onebit {

class BPETokenizer {
public:
  /// Pre-tokenizer flavours (GGUF `tokenizer.ggml.pre`).
  enum class PreTokenizer {
    GPT2,   ///< "gpt2", "default": the GPT-2 regex
    SmolLM, ///< "smollm": every number character on its own, then GPT-2
  };

  /// Builds the tokenizer from explicit tables (tokens indexed by id, merges
  /// as "left right" strings in rank order, token types as in GGUF:
  /// 1 normal, 3 control, 4 user-defined, 6 byte). The loaders of
  /// TokenizerLoader.h read those tables from their files.
  static std::unique_ptr<BPETokenizer>
  fromTables(std::vector<std::string> tokens, std::vector<int32_t> types,
             const std::vector<std::string> &merges, PreTokenizer pre,
             std::string &error);

  /// The tokenizer as bytes that deserialize() reads back: what an imported
  /// model carries (the GGUF importer's `onebit.tokenizer`), so that tools
  /// tokenize its text without the file it came from.
  std::string serialize() const;
  /// The tokenizer serialize() wrote; null + `error` on malformed bytes.
  static std::unique_ptr<BPETokenizer> deserialize(std::string_view bytes,
                                                   std::string &error);

  /// Token ids of `text`. Control and user-defined tokens written literally
  /// in the text become their ids when `parseSpecial` is set. The BOS token
  /// is prepended when the tokenizer asks for it (addBos()) and `allowBos`
  /// is set (clear it to encode a continuation).
  std::vector<int32_t> encode(std::string_view text, bool parseSpecial = true,
                              bool allowBos = true) const;
  /// The UTF-8 text of `ids` (ids out of range are skipped).
  std::string decode(const std::vector<int32_t> &ids) const;
  /// The raw (byte-level encoded) string of a token.
  const std::string &tokenText(int32_t id) const { return tokens_[id]; }

  size_t vocabSize() const { return tokens_.size(); }
  int32_t bosId() const { return bos_; }
  int32_t eosId() const { return eos_; }
  bool addBos() const { return addBos_; }

  /// Splits `text` (no special tokens) into pre-tokens as the model's
  /// pre-tokenizer regex would. Exposed for tests.
  std::vector<std::string> preTokenize(std::string_view text) const;

private:
  // The loaders (TokenizerLoader.cpp) build through fromTables() and then
  // set the BOS/EOS ids their formats carry beside the tables; a friend keeps
  // those fields out of the public interface.
  friend struct TokenizerLoaderAccess;

  BPETokenizer() = default;
  void bpe(const std::string &piece, std::vector<int32_t> &out) const;

  std::vector<std::string> tokens_;
  std::vector<int32_t> types_;
  std::unordered_map<std::string, int32_t> ids_;
  std::unordered_map<std::string, int32_t> mergeRank_; ///< "a b" -> rank
  std::vector<std::string> specials_; ///< sorted longest first
  PreTokenizer pre_ = PreTokenizer::GPT2;
  int32_t bos_ = -1, eos_ = -1;
  bool addBos_ = false;
};

} // namespace onebit

#endif // ONEBIT_TOKENIZER_BPETOKENIZER_H
