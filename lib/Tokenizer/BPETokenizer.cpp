//===- BPETokenizer.cpp - byte-level BPE tokenizer ------------------------===//
//
// The tokenizer proper: UTF-8 and Unicode categories (UnicodeTables.inc), the
// GPT-2 pre-tokenizer, rank-ordered merges, and the serialized form a model
// carries. Plain C++ on purpose (library OneBitTokenizerCore): it includes no
// LLVM or MLIR header and links nothing, so a runtime library that must not
// link libLLVM can tokenize. Reading GGUF and tokenizer.json files is in
// TokenizerLoader.cpp.
//
//===----------------------------------------------------------------------===//

#include "onebit/Tokenizer/BPETokenizer.h"

#include <algorithm>
#include <climits>

namespace onebit {
namespace {

#include "UnicodeTables.inc"

template <size_t N>
bool inRanges(const uint32_t (&ranges)[N][2], uint32_t cp) {
  size_t lo = 0, hi = N;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (cp < ranges[mid][0])
      hi = mid;
    else if (cp > ranges[mid][1])
      lo = mid + 1;
    else
      return true;
  }
  return false;
}

bool isLetter(uint32_t cp) { return inRanges(kLetterRanges, cp); }
bool isNumber(uint32_t cp) { return inRanges(kNumberRanges, cp); }
bool isSpace(uint32_t cp) { return inRanges(kSpaceRanges, cp); }

/// Decodes UTF-8 into code points, remembering each one's byte offset.
/// Invalid bytes become U+FFFD of length one so that no input is dropped.
void decodeUtf8(std::string_view s, std::vector<uint32_t> &cps,
                std::vector<size_t> &offsets) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    uint32_t cp = 0xFFFD;
    size_t len = 1;
    auto cont = [&](size_t k) {
      return i + k < s.size() && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    };
    if (c < 0x80) {
      cp = c;
    } else if ((c & 0xE0) == 0xC0 && cont(1)) {
      cp = (c & 0x1F) << 6 | (s[i + 1] & 0x3F);
      len = 2;
    } else if ((c & 0xF0) == 0xE0 && cont(1) && cont(2)) {
      cp = (c & 0x0F) << 12 | (s[i + 1] & 0x3F) << 6 | (s[i + 2] & 0x3F);
      len = 3;
    } else if ((c & 0xF8) == 0xF0 && cont(1) && cont(2) && cont(3)) {
      cp = (c & 0x07) << 18 | (s[i + 1] & 0x3F) << 12 |
           (s[i + 2] & 0x3F) << 6 | (s[i + 3] & 0x3F);
      len = 4;
    }
    cps.push_back(cp);
    offsets.push_back(i);
    i += len;
  }
  offsets.push_back(s.size());
}

void appendUtf8(uint32_t cp, std::string &out) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | cp >> 6);
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | cp >> 12);
    out += char(0x80 | (cp >> 6 & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | cp >> 18);
    out += char(0x80 | (cp >> 12 & 0x3F));
    out += char(0x80 | (cp >> 6 & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

/// GPT-2's reversible byte -> printable code point map.
struct ByteMap {
  uint32_t toCp[256];
  std::unordered_map<uint32_t, uint8_t> toByte;
  ByteMap() {
    uint32_t extra = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) ||
                       (b >= 174 && b <= 255);
      toCp[b] = printable ? b : extra++;
      toByte[toCp[b]] = uint8_t(b);
    }
  }
};
const ByteMap &byteMap() {
  static const ByteMap m;
  return m;
}

/// Length (in code points) of the GPT-2 pre-token starting at `i`:
///   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
size_t gpt2Match(const std::vector<uint32_t> &cp, size_t i, size_t end) {
  uint32_t c = cp[i];
  auto at = [&](size_t k) -> uint32_t { return k < end ? cp[k] : 0; };
  if (c == '\'') {
    uint32_t n1 = at(i + 1), n2 = at(i + 2);
    if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd')
      return 2;
    if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') ||
        (n1 == 'l' && n2 == 'l'))
      return 3;
  }
  size_t start = (c == ' ' && i + 1 < end) ? i + 1 : i;
  auto run = [&](bool (*pred)(uint32_t)) -> size_t {
    size_t k = start;
    while (k < end && pred(cp[k]))
      ++k;
    return k > start ? k - i : 0;
  };
  if (size_t n = run(isLetter))
    return n;
  if (size_t n = run(isNumber))
    return n;
  if (size_t n = run([](uint32_t x) {
        return !isSpace(x) && !isLetter(x) && !isNumber(x);
      }))
    return n;
  // White space: a run followed by a non-space gives up its last character
  // (so " word" keeps its space), unless the run is a single character.
  size_t k = i;
  while (k < end && isSpace(cp[k]))
    ++k;
  size_t n = k - i;
  if (n == 0)
    return 1; // unreachable for valid categories; never loop forever
  if (k < end && n > 1)
    return n - 1;
  return n;
}

} // namespace

std::unique_ptr<BPETokenizer>
BPETokenizer::fromTables(std::vector<std::string> tokens,
                         std::vector<int32_t> types,
                         const std::vector<std::string> &merges,
                         PreTokenizer pre, std::string &error) {
  std::unique_ptr<BPETokenizer> t(new BPETokenizer());
  if (tokens.empty()) {
    error = "the vocabulary is empty";
    return nullptr;
  }
  if (!types.empty() && types.size() != tokens.size()) {
    error = "token_type has " + std::to_string(types.size()) +
            " entries but the vocabulary has " + std::to_string(tokens.size());
    return nullptr;
  }
  types.resize(tokens.size(), 1);
  t->tokens_ = std::move(tokens);
  t->types_ = std::move(types);
  t->pre_ = pre;
  for (size_t i = 0; i < t->tokens_.size(); ++i) {
    t->ids_.emplace(t->tokens_[i], int32_t(i));
    if (t->types_[i] == 3 || t->types_[i] == 4)
      if (!t->tokens_[i].empty())
        t->specials_.push_back(t->tokens_[i]);
  }
  std::sort(t->specials_.begin(), t->specials_.end(),
            [](const std::string &a, const std::string &b) {
              return a.size() > b.size();
            });
  for (size_t r = 0; r < merges.size(); ++r) {
    if (merges[r].find(' ') == std::string::npos) {
      error = "merge " + std::to_string(r) + " ('" + merges[r] +
              "') is not two space-separated symbols";
      return nullptr;
    }
    t->mergeRank_.emplace(merges[r], int32_t(r));
  }
  return t;
}

// Serialized form: "ONEBITTOK1", then little-endian u32 fields: pre, bos + 1,
// eos + 1, addBos, the token count, per token its type, length and bytes,
// the merge count, per merge its length and bytes (in rank order).
static constexpr std::string_view kSerialMagic = "ONEBITTOK1";

std::string BPETokenizer::serialize() const {
  std::string out(kSerialMagic);
  auto put = [&](uint32_t v) {
    for (int i = 0; i < 4; ++i)
      out.push_back(char((v >> (8 * i)) & 0xff));
  };
  auto putString = [&](const std::string &s) {
    put(uint32_t(s.size()));
    out += s;
  };
  put(uint32_t(pre_));
  put(uint32_t(bos_ + 1));
  put(uint32_t(eos_ + 1));
  put(addBos_);
  put(uint32_t(tokens_.size()));
  for (size_t i = 0; i < tokens_.size(); ++i) {
    put(uint32_t(types_[i]));
    putString(tokens_[i]);
  }
  // Ranks have gaps where the source listed a merge twice (the first rank
  // wins); any lower-ranked merge fills a gap, as it is ignored the same way.
  size_t count = 0;
  for (const auto &[merge, rank] : mergeRank_)
    count = std::max(count, size_t(rank) + 1);
  std::vector<const std::string *> merges(count, nullptr);
  for (const auto &[merge, rank] : mergeRank_)
    merges[size_t(rank)] = &merge;
  for (const std::string *&m : merges)
    if (!m)
      m = merges.front();
  put(uint32_t(merges.size()));
  for (const std::string *m : merges)
    putString(*m);
  return out;
}

std::unique_ptr<BPETokenizer> BPETokenizer::deserialize(std::string_view bytes,
                                                        std::string &error) {
  size_t at = kSerialMagic.size();
  bool ok = bytes.substr(0, at) == kSerialMagic;
  auto get = [&]() -> uint32_t {
    if (!ok || bytes.size() - at < 4) {
      ok = false;
      return 0;
    }
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i)
      v |= uint32_t(uint8_t(bytes[at + i])) << (8 * i);
    at += 4;
    return v;
  };
  auto getString = [&]() -> std::string {
    uint32_t n = get();
    if (!ok || bytes.size() - at < n) {
      ok = false;
      return "";
    }
    std::string s(bytes.substr(at, n));
    at += n;
    return s;
  };
  uint32_t pre = get(), bos = get(), eos = get(), addBos = get();
  uint32_t n = get();
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  // Each token takes at least 8 bytes: a count beyond that is corrupt.
  if (ok && n <= (bytes.size() - at) / 8) {
    for (uint32_t i = 0; ok && i < n; ++i) {
      types.push_back(int32_t(get()));
      tokens.push_back(getString());
    }
  } else {
    ok = false;
  }
  uint32_t m = get();
  std::vector<std::string> merges;
  if (ok && m <= (bytes.size() - at) / 4) {
    for (uint32_t i = 0; ok && i < m; ++i)
      merges.push_back(getString());
  } else {
    ok = false;
  }
  if (!ok || at != bytes.size() || pre > uint32_t(PreTokenizer::SmolLM) ||
      bos > n || eos > n) {
    error = "malformed serialized tokenizer";
    return nullptr;
  }
  auto t = fromTables(std::move(tokens), std::move(types), merges,
                      PreTokenizer(pre), error);
  if (!t)
    return nullptr;
  t->bos_ = int32_t(bos) - 1;
  t->eos_ = int32_t(eos) - 1;
  t->addBos_ = addBos != 0;
  return t;
}

std::vector<std::string> BPETokenizer::preTokenize(std::string_view text) const {
  std::vector<uint32_t> cps;
  std::vector<size_t> offs;
  decodeUtf8(text, cps, offs);
  std::vector<std::string> out;
  auto emit = [&](size_t a, size_t b) {
    out.emplace_back(text.substr(offs[a], offs[b] - offs[a]));
  };
  auto regexSplit = [&](size_t a, size_t b) {
    for (size_t i = a; i < b;) {
      size_t n = gpt2Match(cps, i, b);
      emit(i, i + n);
      i += n;
    }
  };
  if (pre_ == PreTokenizer::GPT2) {
    regexSplit(0, cps.size());
    return out;
  }
  // SmolLM: every number character is a piece of its own; the text between
  // numbers goes through the GPT-2 rules.
  size_t segStart = 0;
  for (size_t i = 0; i < cps.size(); ++i)
    if (isNumber(cps[i])) {
      regexSplit(segStart, i);
      emit(i, i + 1);
      segStart = i + 1;
    }
  regexSplit(segStart, cps.size());
  return out;
}

void BPETokenizer::bpe(const std::string &piece,
                       std::vector<int32_t> &out) const {
  // Byte-level: each byte becomes one printable code point (as UTF-8).
  const ByteMap &bm = byteMap();
  std::vector<std::string> syms;
  for (unsigned char b : piece) {
    std::string s;
    appendUtf8(bm.toCp[b], s);
    syms.push_back(std::move(s));
  }
  // Merge the best-ranked adjacent pair until none is in the merge table.
  while (syms.size() > 1) {
    int32_t bestRank = INT32_MAX;
    size_t best = 0;
    for (size_t i = 0; i + 1 < syms.size(); ++i) {
      auto it = mergeRank_.find(syms[i] + " " + syms[i + 1]);
      if (it != mergeRank_.end() && it->second < bestRank) {
        bestRank = it->second;
        best = i;
      }
    }
    if (bestRank == INT32_MAX)
      break;
    syms[best] += syms[best + 1];
    syms.erase(syms.begin() + best + 1);
  }
  for (const std::string &s : syms) {
    auto it = ids_.find(s);
    if (it != ids_.end()) {
      out.push_back(it->second);
      continue;
    }
    // A symbol without an id (a vocabulary lacking some merge result): fall
    // back to its single byte-symbols, which every byte-level vocab has.
    std::vector<uint32_t> cps;
    std::vector<size_t> offs;
    decodeUtf8(s, cps, offs);
    for (size_t k = 0; k < cps.size(); ++k) {
      auto byteIt = ids_.find(s.substr(offs[k], offs[k + 1] - offs[k]));
      if (byteIt != ids_.end())
        out.push_back(byteIt->second);
    }
  }
}

std::vector<int32_t> BPETokenizer::encode(std::string_view text,
                                          bool parseSpecial,
                                          bool allowBos) const {
  std::vector<int32_t> out;
  if (allowBos && addBos_ && bos_ >= 0)
    out.push_back(bos_);
  size_t start = 0;
  auto encodePlain = [&](std::string_view part) {
    for (const std::string &piece : preTokenize(part))
      bpe(piece, out);
  };
  if (parseSpecial && !specials_.empty()) {
    for (size_t i = 0; i < text.size();) {
      const std::string *hit = nullptr;
      for (const std::string &sp : specials_)
        if (text.compare(i, sp.size(), sp) == 0) {
          hit = &sp;
          break;
        }
      if (!hit) {
        ++i;
        continue;
      }
      encodePlain(text.substr(start, i - start));
      out.push_back(ids_.at(*hit));
      i += hit->size();
      start = i;
    }
  }
  encodePlain(text.substr(start));
  return out;
}

std::string BPETokenizer::decode(const std::vector<int32_t> &ids) const {
  const ByteMap &bm = byteMap();
  std::string out;
  for (int32_t id : ids) {
    if (id < 0 || size_t(id) >= tokens_.size())
      continue;
    const std::string &tok = tokens_[id];
    if (types_[id] == 3 || types_[id] == 4) {
      out += tok;
      continue;
    }
    std::vector<uint32_t> cps;
    std::vector<size_t> offs;
    decodeUtf8(tok, cps, offs);
    for (uint32_t cp : cps) {
      auto it = bm.toByte.find(cp);
      if (it != bm.toByte.end())
        out += char(it->second);
      else
        appendUtf8(cp, out);
    }
  }
  return out;
}

} // namespace onebit
