//===- TokenizerLoader.cpp - BPE tokenizers from GGUF and tokenizer.json --===//
//
// Reads the tables of a BPETokenizer from a GGUF model's metadata or a
// Hugging Face tokenizer.json and builds it with BPETokenizer::fromTables.
// Kept apart from the tokenizer (BPETokenizer.cpp) because it needs
// llvm::json and the GGUF reader, which the tokenizer itself must not.
//
//===----------------------------------------------------------------------===//

#include "onebit/Tokenizer/TokenizerLoader.h"

#include "onebit/Support/JsonDepth.h"
#include "onebit/Target/GGUF/GGUFFile.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <algorithm>

namespace onebit {

/// What the loaders set on a tokenizer beyond what fromTables() takes: the
/// BOS/EOS ids and whether BOS is added. The class befriends this struct so
/// that those fields stay private.
struct TokenizerLoaderAccess {
  static void setSpecialTokens(BPETokenizer &t, int32_t bos, int32_t eos,
                               bool addBos) {
    t.bos_ = bos;
    t.eos_ = eos;
    t.addBos_ = addBos;
  }
  /// The id of the first token whose text is `text`, or -1.
  static int32_t idOf(const BPETokenizer &t, const std::string &text) {
    auto it = t.ids_.find(text);
    return it == t.ids_.end() ? -1 : it->second;
  }
};

std::unique_ptr<BPETokenizer> tokenizerFromGGUF(const gguf::GGUFFile &file,
                                                std::string &error) {
  using PreTokenizer = BPETokenizer::PreTokenizer;
  auto fail = [&](const std::string &msg) {
    error = file.path() + ": " + msg;
    return nullptr;
  };
  const gguf::MetaValue *model = file.find("tokenizer.ggml.model");
  if (!model)
    return fail("no tokenizer (tokenizer.ggml.model is missing)");
  if (model->s != "gpt2")
    return fail("tokenizer model '" + model->s +
                "' is not supported (supported: gpt2 byte-level BPE)");
  PreTokenizer pre = PreTokenizer::GPT2;
  if (const gguf::MetaValue *p = file.find("tokenizer.ggml.pre")) {
    if (p->s == "smollm")
      pre = PreTokenizer::SmolLM;
    else if (p->s != "gpt2" && p->s != "default")
      return fail("pre-tokenizer '" + p->s +
                  "' is not supported (supported: gpt2, default, smollm)");
  }
  const gguf::MetaValue *toks = file.find("tokenizer.ggml.tokens");
  const gguf::MetaValue *merges = file.find("tokenizer.ggml.merges");
  if (!toks || toks->kind != gguf::MetaValue::Array ||
      toks->elementKind != gguf::MetaValue::String)
    return fail("tokenizer.ggml.tokens is missing or not a string array");
  if (!merges || merges->kind != gguf::MetaValue::Array ||
      merges->elementKind != gguf::MetaValue::String)
    return fail("tokenizer.ggml.merges is missing or not a string array");
  std::vector<std::string> tokens, mergeList;
  for (const gguf::MetaValue &v : toks->array)
    tokens.push_back(v.s);
  for (const gguf::MetaValue &v : merges->array)
    mergeList.push_back(v.s);
  std::vector<int32_t> types;
  if (const gguf::MetaValue *tt = file.find("tokenizer.ggml.token_type"))
    for (const gguf::MetaValue &v : tt->array)
      types.push_back(int32_t(v.asInt()));
  std::string err;
  auto t = BPETokenizer::fromTables(std::move(tokens), std::move(types),
                                    mergeList, pre, err);
  if (!t)
    return fail(err);
  auto idOf = [&](const char *key) -> int32_t {
    const gguf::MetaValue *v = file.find(key);
    if (!v)
      return -1;
    int64_t id = v->asInt();
    return id >= 0 && size_t(id) < t->vocabSize() ? int32_t(id) : -1;
  };
  bool addBos = false;
  if (const gguf::MetaValue *v = file.find("tokenizer.ggml.add_bos_token"))
    addBos = v->asInt() != 0;
  TokenizerLoaderAccess::setSpecialTokens(
      *t, idOf("tokenizer.ggml.bos_token_id"),
      idOf("tokenizer.ggml.eos_token_id"), addBos);
  return t;
}

//===----------------------------------------------------------------------===//
// Hugging Face tokenizer.json
//===----------------------------------------------------------------------===//
//
// Accepted (anything else is an error naming what was found, so that a
// tokenizer is never silently approximated):
//  - "normalizer": null;
//  - "pre_tokenizer": ByteLevel (add_prefix_space false, use_regex true), or
//    a Sequence of Digits(individual_digits true) then that ByteLevel, which
//    is the SmolLM pre-tokenizer (GPT2 otherwise);
//  - "decoder": ByteLevel (or a Sequence holding one);
//  - "model": type "BPE" (a missing type is taken as BPE when there are
//    merges), no continuing_subword_prefix / end_of_word_suffix, no
//    byte_fallback; "vocab" {token: id}; "merges" as "a b" strings or
//    ["a", "b"] pairs;
//  - "added_tokens": special ones become control tokens (type 3), the
//    others user-defined (type 4); both are matched literally in the text;
//  - "post_processor": a TemplateProcessing (or a Sequence holding one)
//    whose single template starts with a SpecialToken sets BOS and adds it;
//    otherwise no BOS is added. BOS/EOS ids otherwise come from the first
//    added token named <|begin_of_text|>, <s>, <|im_start|>, <|endoftext|>
//    (BOS) and <|end_of_text|>, </s>, <|im_end|>, <|endoftext|> (EOS).
//
// Each reader below checks one part and returns false with `why` set (the
// message without the file name) when it is not supported.

namespace {

using llvm::json::Array;
using llvm::json::Object;
using llvm::json::Value;

/// The "type" of a component, or why there is none.
std::string typeOf(const Value *v) {
  if (!v)
    return "missing";
  if (v->kind() == Value::Null)
    return "null";
  const Object *o = v->getAsObject();
  if (!o)
    return "not an object";
  auto t = o->getString("type");
  return t ? t->str() : "without a type";
}

/// A component and, for a Sequence, its members (under `listKey`).
std::vector<const Value *> members(const Value *v, const char *listKey) {
  std::vector<const Value *> out;
  const Object *o = v ? v->getAsObject() : nullptr;
  if (o && typeOf(v) == "Sequence") {
    if (const Array *a = o->getArray(listKey))
      for (const Value &m : *a)
        out.push_back(&m);
  } else if (v && v->kind() != Value::Null) {
    out.push_back(v);
  }
  return out;
}

/// The tables fromTables() takes, as the readers fill them.
struct HFTables {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  std::vector<std::string> merges;
  BPETokenizer::PreTokenizer pre = BPETokenizer::PreTokenizer::GPT2;
  /// The added tokens' texts, in file order (BOS/EOS are picked from them).
  std::vector<std::string> addedNames;

  /// Puts `tok` at `id`; false for an id out of range.
  bool put(llvm::StringRef tok, int64_t id, int32_t type) {
    if (id < 0 || id >= (int64_t(1) << 24))
      return false;
    if (size_t(id) >= tokens.size()) {
      tokens.resize(size_t(id) + 1);
      types.resize(size_t(id) + 1, 5); // ids never named: unused
    }
    tokens[size_t(id)] = tok.str();
    types[size_t(id)] = type;
    return true;
  }
};

/// The model's type and options: byte-level BPE only.
bool checkModel(const Object &top, const Object &model, std::string &why) {
  std::string modelType = typeOf(top.get("model"));
  if (modelType == "without a type" && model.get("merges"))
    modelType = "BPE";
  if (modelType == "without a type") {
    why = "the tokenizer model has no \"type\" (supported: BPE, byte-level)";
    return false;
  }
  if (modelType != "BPE") {
    why = "tokenizer model type '" + modelType +
          "' is not supported (supported: BPE, byte-level)";
    return false;
  }
  for (const char *key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (auto v = model.getString(key); v && !v->empty()) {
      why = std::string("BPE option ") + key + " ('" + v->str() +
            "') is not supported";
      return false;
    }
  if (model.getBoolean("byte_fallback").value_or(false)) {
    why = "BPE option byte_fallback is not supported (byte-level BPE needs no "
          "fallback)";
    return false;
  }
  return true;
}

bool checkNormalizer(const Object &top, std::string &why) {
  std::string n = typeOf(top.get("normalizer"));
  if (n == "null" || n == "missing")
    return true;
  why = "normalizer '" + n + "' is not supported (supported: none)";
  return false;
}

/// ByteLevel, optionally after Digits(individual_digits) in a Sequence
/// (which selects PreTokenizer::SmolLM).
bool readPreTokenizer(const Object &top, BPETokenizer::PreTokenizer &pre,
                      std::string &why) {
  std::vector<const Value *> parts =
      members(top.get("pre_tokenizer"), "pretokenizers");
  bool byteLevel = false;
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string t = typeOf(parts[i]);
    const Object *o = parts[i]->getAsObject();
    if (t == "Digits" && i + 1 < parts.size() &&
        o->getBoolean("individual_digits").value_or(false)) {
      pre = BPETokenizer::PreTokenizer::SmolLM;
    } else if (t == "ByteLevel" && i + 1 == parts.size()) {
      if (o->getBoolean("add_prefix_space").value_or(false)) {
        why = "pre-tokenizer ByteLevel with add_prefix_space is not supported";
        return false;
      }
      if (!o->getBoolean("use_regex").value_or(true)) {
        why = "pre-tokenizer ByteLevel without use_regex is not supported "
              "(its split would come from elsewhere)";
        return false;
      }
      byteLevel = true;
    } else {
      why = "pre-tokenizer '" + t +
            "' is not supported (supported: ByteLevel, or a Sequence of "
            "Digits(individual_digits) and ByteLevel)";
      return false;
    }
  }
  if (!byteLevel) {
    why = "the pre-tokenizer is " + typeOf(top.get("pre_tokenizer")) +
          ", not byte-level (supported: ByteLevel)";
    return false;
  }
  return true;
}

bool checkDecoder(const Object &top, std::string &why) {
  bool byteLevel = false;
  for (const Value *d : members(top.get("decoder"), "decoders"))
    byteLevel |= typeOf(d) == "ByteLevel";
  if (byteLevel)
    return true;
  why = "the decoder is " + typeOf(top.get("decoder")) +
        ", not ByteLevel (byte-level BPE is supported)";
  return false;
}

/// model.vocab {token: id}: normal tokens (type 1).
bool readVocab(const Object &model, HFTables &tables, std::string &why) {
  const Object *vocab = model.getObject("vocab");
  if (!vocab || vocab->empty()) {
    why = "model.vocab is missing or empty";
    return false;
  }
  for (const auto &kv : *vocab) {
    auto id = kv.second.getAsInteger();
    if (!id || !tables.put(kv.first.str(), *id, 1)) {
      why = "model.vocab entry '" + kv.first.str() + "' has no valid id";
      return false;
    }
  }
  return true;
}

/// added_tokens: control tokens (type 3) when special, user-defined (4)
/// otherwise; they may also name ids of the vocabulary.
bool readAddedTokens(const Object &top, HFTables &tables, std::string &why) {
  const Array *added = top.getArray("added_tokens");
  if (!added)
    return true;
  for (size_t i = 0; i < added->size(); ++i) {
    const Object *a = (*added)[i].getAsObject();
    auto content = a ? a->getString("content") : std::nullopt;
    auto id = a ? a->getInteger("id") : std::nullopt;
    if (!content || !id ||
        !tables.put(*content, *id,
                    a->getBoolean("special").value_or(false) ? 3 : 4)) {
      why = "added_tokens[" + std::to_string(i) +
            "] needs \"id\" and \"content\"";
      return false;
    }
    tables.addedNames.push_back(content->str());
  }
  return true;
}

/// model.merges: "a b" strings or ["a", "b"] pairs, in rank order.
bool readMerges(const Object &model, std::vector<std::string> &merges,
                std::string &why) {
  const Array *m = model.getArray("merges");
  if (!m) {
    why = "model.merges is missing";
    return false;
  }
  merges.reserve(m->size());
  for (size_t i = 0; i < m->size(); ++i) {
    const Value &v = (*m)[i];
    if (auto str = v.getAsString()) {
      merges.push_back(str->str());
      continue;
    }
    const Array *pair = v.getAsArray();
    auto a =
        pair && pair->size() == 2 ? (*pair)[0].getAsString() : std::nullopt;
    auto b =
        pair && pair->size() == 2 ? (*pair)[1].getAsString() : std::nullopt;
    if (!a || !b) {
      why = "model.merges[" + std::to_string(i) +
            "] is neither \"a b\" nor [\"a\", \"b\"]";
      return false;
    }
    merges.push_back(a->str() + " " + b->str());
  }
  return true;
}

/// BOS and EOS from the added tokens' names, then BOS (and adding it) from a
/// TemplateProcessing post-processor whose single template starts with a
/// special token.
void readSpecialTokens(const Object &top,
                       const std::vector<std::string> &addedNames,
                       BPETokenizer &t) {
  auto idOf = [&](llvm::StringRef name) {
    return TokenizerLoaderAccess::idOf(t, name.str());
  };
  auto firstAdded = [&](std::initializer_list<const char *> names) {
    for (const char *n : names)
      if (std::find(addedNames.begin(), addedNames.end(), n) !=
          addedNames.end())
        return idOf(n);
    return int32_t(-1);
  };
  int32_t bos =
      firstAdded({"<|begin_of_text|>", "<s>", "<|im_start|>", "<|endoftext|>"});
  int32_t eos =
      firstAdded({"<|end_of_text|>", "</s>", "<|im_end|>", "<|endoftext|>"});
  bool addBos = false;
  for (const Value *p : members(top.get("post_processor"), "processors")) {
    if (typeOf(p) != "TemplateProcessing")
      continue;
    const Array *single = p->getAsObject()->getArray("single");
    const Object *first =
        single && !single->empty() ? (*single)[0].getAsObject() : nullptr;
    const Object *sp = first ? first->getObject("SpecialToken") : nullptr;
    auto name = sp ? sp->getString("id") : std::nullopt;
    if (name && idOf(*name) >= 0) {
      bos = idOf(*name);
      addBos = true;
    }
  }
  TokenizerLoaderAccess::setSpecialTokens(t, bos, eos, addBos);
}

} // namespace

std::unique_ptr<BPETokenizer> tokenizerFromHFJson(const std::string &path,
                                                  std::string &error) {
  auto buf = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                         /*RequiresNullTerminator=*/false);
  if (!buf) {
    error = path + ": cannot open: " + buf.getError().message();
    return nullptr;
  }
  return tokenizerFromHFJsonText((*buf)->getBuffer(), path, error);
}

std::unique_ptr<BPETokenizer> tokenizerFromHFJsonText(std::string_view text,
                                                      const std::string &path,
                                                      std::string &error) {
  auto fail = [&](const std::string &msg) {
    error = path + ": " + msg;
    return nullptr;
  };
  // llvm::json::parse recurses per level: measure hostile nesting first.
  if (size_t d = jsonNestingDepth(text); d > kMaxJsonNesting)
    return fail("not a tokenizer.json (arrays and objects nest " +
                std::to_string(d) + " levels deep, more than " +
                std::to_string(kMaxJsonNesting) + ")");
  llvm::Expected<Value> root =
      llvm::json::parse(llvm::StringRef(text.data(), text.size()));
  if (!root)
    return fail("invalid JSON: " + llvm::toString(root.takeError()));
  const Object *top = root->getAsObject();
  if (!top)
    return fail("not a tokenizer.json (the top level is not an object)");
  const Object *model = top->getObject("model");
  if (!model)
    return fail("not a tokenizer.json (no \"model\" object)");

  // In this order, so that the first unsupported part is the one reported.
  HFTables tables;
  std::string why;
  if (!checkModel(*top, *model, why) || !checkNormalizer(*top, why) ||
      !readPreTokenizer(*top, tables.pre, why) || !checkDecoder(*top, why) ||
      !readVocab(*model, tables, why) || !readAddedTokens(*top, tables, why) ||
      !readMerges(*model, tables.merges, why))
    return fail(why);

  auto t = BPETokenizer::fromTables(std::move(tables.tokens),
                                    std::move(tables.types), tables.merges,
                                    tables.pre, why);
  if (!t)
    return fail(why);
  readSpecialTokens(*top, tables.addedNames, *t);
  return t;
}

std::unique_ptr<BPETokenizer> loadTokenizer(const std::string &path,
                                            std::string &error) {
  llvm::StringRef p(path);
  if (p.ends_with(".json"))
    return tokenizerFromHFJson(path, error);
  if (p.ends_with(".gguf")) {
    auto file = gguf::GGUFFile::open(path, error);
    if (!file)
      return nullptr;
    return tokenizerFromGGUF(*file, error);
  }
  error = path + ": unknown tokenizer file (give a .gguf model or a Hugging "
                 "Face tokenizer.json)";
  return nullptr;
}

} // namespace onebit
