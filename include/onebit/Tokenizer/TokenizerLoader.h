//===- TokenizerLoader.h - BPE tokenizers from their files ------*- C++ -*-===//
//
// Builds a BPETokenizer from the files tokenizers come in: a GGUF model's
// `tokenizer.ggml.*` metadata or a Hugging Face tokenizer.json. Library
// OneBitTokenizer (it parses with llvm::json and the GGUF reader); the
// tokenizer itself, in OneBitTokenizerCore, needs neither.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_TOKENIZER_TOKENIZERLOADER_H
#define ONEBIT_TOKENIZER_TOKENIZERLOADER_H

#include "onebit/Tokenizer/BPETokenizer.h"

#include <memory>
#include <string>
#include <string_view>

namespace onebit {
namespace gguf {
class GGUFFile;
} // namespace gguf

/// Builds the tokenizer from a GGUF file's `tokenizer.ggml.*` metadata.
std::unique_ptr<BPETokenizer> tokenizerFromGGUF(const gguf::GGUFFile &file,
                                                std::string &error);

/// Builds the tokenizer from a Hugging Face `tokenizer.json` (see
/// TokenizerLoader.cpp for what is accepted): a "BPE" model with a ByteLevel
/// pre-tokenizer (optionally after Digits(individual_digits) in a
/// Sequence, which selects PreTokenizer::SmolLM) and a ByteLevel decoder.
/// Added tokens marked special become control tokens (type 3), the others
/// user-defined (type 4). BOS is added when the post-processor is a
/// TemplateProcessing whose single template starts with a special token.
std::unique_ptr<BPETokenizer> tokenizerFromHFJson(const std::string &path,
                                                  std::string &error);

/// The same from the text of a tokenizer.json; `path` names it in errors.
std::unique_ptr<BPETokenizer> tokenizerFromHFJsonText(std::string_view text,
                                                      const std::string &path,
                                                      std::string &error);

/// Loads a tokenizer by file name: `*.gguf` through tokenizerFromGGUF (the
/// file's `tokenizer.ggml.*` metadata), `*.json` (a Hugging Face
/// tokenizer.json) through tokenizerFromHFJson. Null + `error` (naming the
/// file) on failure.
std::unique_ptr<BPETokenizer> loadTokenizer(const std::string &path,
                                            std::string &error);

} // namespace onebit

#endif // ONEBIT_TOKENIZER_TOKENIZERLOADER_H
