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

/// Hugging Face tokenizer.json. Accepted (anything else is an error naming
/// what was found, so that a tokenizer is never silently approximated):
///  - "normalizer": null;
///  - "pre_tokenizer": ByteLevel (add_prefix_space false, use_regex true), or
///    a Sequence of Digits(individual_digits true) then that ByteLevel, which
///    is the SmolLM pre-tokenizer (GPT2 otherwise);
///  - "decoder": ByteLevel (or a Sequence holding one);
///  - "model": type "BPE" (a missing type is taken as BPE when there are
///    merges), no continuing_subword_prefix / end_of_word_suffix, no
///    byte_fallback; "vocab" {token: id}; "merges" as "a b" strings or
///    ["a", "b"] pairs;
///  - "added_tokens": special ones become control tokens (type 3), the
///    others user-defined (type 4); both are matched literally in the text;
///  - "post_processor": a TemplateProcessing (or a Sequence holding one)
///    whose single template starts with a SpecialToken sets BOS and adds it;
///    otherwise no BOS is added. BOS/EOS ids otherwise come from the first
///    added token named <|begin_of_text|>, <s>, <|im_start|>, <|endoftext|>
///    (BOS) and <|end_of_text|>, </s>, <|im_end|>, <|endoftext|> (EOS).
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
  using PreTokenizer = BPETokenizer::PreTokenizer;
  using llvm::json::Array;
  using llvm::json::Object;
  using llvm::json::Value;
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
  // The "type" of a component, or why there is none.
  auto typeOf = [](const Value *v) -> std::string {
    if (!v)
      return "missing";
    if (v->kind() == Value::Null)
      return "null";
    const Object *o = v->getAsObject();
    if (!o)
      return "not an object";
    auto t = o->getString("type");
    return t ? t->str() : "without a type";
  };
  // A component and, for a Sequence, its members (under `listKey`).
  auto members = [&](const Value *v, const char *listKey) {
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
  };

  // Model.
  const Object *model = top->getObject("model");
  if (!model)
    return fail("not a tokenizer.json (no \"model\" object)");
  std::string modelType = typeOf(top->get("model"));
  if (modelType == "without a type" && model->get("merges"))
    modelType = "BPE";
  if (modelType == "without a type")
    return fail("the tokenizer model has no \"type\" (supported: BPE, "
                "byte-level)");
  if (modelType != "BPE")
    return fail("tokenizer model type '" + modelType +
                "' is not supported (supported: BPE, byte-level)");
  for (const char *key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (auto v = model->getString(key); v && !v->empty())
      return fail(std::string("BPE option ") + key + " ('" + v->str() +
                  "') is not supported");
  if (model->getBoolean("byte_fallback").value_or(false))
    return fail("BPE option byte_fallback is not supported (byte-level BPE "
                "needs no fallback)");

  // Normalizer, pre-tokenizer, decoder.
  if (std::string n = typeOf(top->get("normalizer"));
      n != "null" && n != "missing")
    return fail("normalizer '" + n + "' is not supported (supported: none)");
  PreTokenizer pre = PreTokenizer::GPT2;
  {
    std::vector<const Value *> parts =
        members(top->get("pre_tokenizer"), "pretokenizers");
    bool byteLevel = false;
    for (size_t i = 0; i < parts.size(); ++i) {
      std::string t = typeOf(parts[i]);
      const Object *o = parts[i]->getAsObject();
      if (t == "Digits" && i + 1 < parts.size() &&
          o->getBoolean("individual_digits").value_or(false)) {
        pre = PreTokenizer::SmolLM;
      } else if (t == "ByteLevel" && i + 1 == parts.size()) {
        if (o->getBoolean("add_prefix_space").value_or(false))
          return fail("pre-tokenizer ByteLevel with add_prefix_space is not "
                      "supported");
        if (!o->getBoolean("use_regex").value_or(true))
          return fail("pre-tokenizer ByteLevel without use_regex is not "
                      "supported (its split would come from elsewhere)");
        byteLevel = true;
      } else {
        return fail("pre-tokenizer '" + t +
                    "' is not supported (supported: ByteLevel, or a "
                    "Sequence of Digits(individual_digits) and ByteLevel)");
      }
    }
    if (!byteLevel)
      return fail("the pre-tokenizer is " +
                  typeOf(top->get("pre_tokenizer")) +
                  ", not byte-level (supported: ByteLevel)");
  }
  {
    bool byteLevel = false;
    for (const Value *d : members(top->get("decoder"), "decoders"))
      byteLevel |= typeOf(d) == "ByteLevel";
    if (!byteLevel)
      return fail("the decoder is " + typeOf(top->get("decoder")) +
                  ", not ByteLevel (byte-level BPE is supported)");
  }

  // Vocabulary and added tokens.
  const Object *vocab = model->getObject("vocab");
  if (!vocab || vocab->empty())
    return fail("model.vocab is missing or empty");
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  auto put = [&](llvm::StringRef tok, int64_t id, int32_t type) -> bool {
    if (id < 0 || id >= (int64_t(1) << 24))
      return false;
    if (size_t(id) >= tokens.size()) {
      tokens.resize(size_t(id) + 1);
      types.resize(size_t(id) + 1, 5); // ids never named: unused
    }
    tokens[size_t(id)] = tok.str();
    types[size_t(id)] = type;
    return true;
  };
  for (const auto &kv : *vocab) {
    auto id = kv.second.getAsInteger();
    if (!id || !put(kv.first.str(), *id, 1))
      return fail("model.vocab entry '" + kv.first.str() +
                  "' has no valid id");
  }
  std::vector<std::string> addedNames;
  if (const Array *added = top->getArray("added_tokens")) {
    for (size_t i = 0; i < added->size(); ++i) {
      const Object *a = (*added)[i].getAsObject();
      auto content = a ? a->getString("content") : std::nullopt;
      auto id = a ? a->getInteger("id") : std::nullopt;
      if (!content || !id ||
          !put(*content, *id, a->getBoolean("special").value_or(false) ? 3
                                                                       : 4))
        return fail("added_tokens[" + std::to_string(i) +
                    "] needs \"id\" and \"content\"");
      addedNames.push_back(content->str());
    }
  }

  // Merges: "a b" strings or ["a", "b"] pairs.
  std::vector<std::string> merges;
  if (const Array *m = model->getArray("merges")) {
    merges.reserve(m->size());
    for (size_t i = 0; i < m->size(); ++i) {
      const Value &v = (*m)[i];
      if (auto str = v.getAsString()) {
        merges.push_back(str->str());
        continue;
      }
      const Array *pair = v.getAsArray();
      auto a = pair && pair->size() == 2 ? (*pair)[0].getAsString()
                                         : std::nullopt;
      auto b = pair && pair->size() == 2 ? (*pair)[1].getAsString()
                                         : std::nullopt;
      if (!a || !b)
        return fail("model.merges[" + std::to_string(i) +
                    "] is neither \"a b\" nor [\"a\", \"b\"]");
      merges.push_back(a->str() + " " + b->str());
    }
  } else {
    return fail("model.merges is missing");
  }

  std::string err;
  auto t = BPETokenizer::fromTables(std::move(tokens), std::move(types),
                                    merges, pre, err);
  if (!t)
    return fail(err);

  // BOS / EOS.
  auto idOf = [&](llvm::StringRef name) -> int32_t {
    return TokenizerLoaderAccess::idOf(*t, name.str());
  };
  auto firstAdded = [&](std::initializer_list<const char *> names) {
    for (const char *n : names)
      if (std::find(addedNames.begin(), addedNames.end(), n) !=
          addedNames.end())
        return idOf(n);
    return int32_t(-1);
  };
  int32_t bos = firstAdded({"<|begin_of_text|>", "<s>", "<|im_start|>",
                            "<|endoftext|>"});
  int32_t eos = firstAdded({"<|end_of_text|>", "</s>", "<|im_end|>",
                            "<|endoftext|>"});
  bool addBos = false;
  for (const Value *p : members(top->get("post_processor"), "processors")) {
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
  TokenizerLoaderAccess::setSpecialTokens(*t, bos, eos, addBos);
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
