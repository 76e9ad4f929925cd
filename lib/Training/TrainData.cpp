//===- TrainData.cpp - the token sequences a run trains on ----------------===//

#include "TrainData.h"

#include "onebit/Runtime/Generator.h"
#include "onebit/Runner/Runner.h"
#include "onebit/Support/Npy.h"
#include "onebit/Tokenizer/BPETokenizer.h"
#include "onebit/Training/Evaluate.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdio>
#include <cstring>
#include <random>
#include <string_view>
#include <vector>

namespace onebit {

static TrainError dataError(std::string detail) {
  return TrainError{TrainOption::Data, std::move(detail)};
}

bool parseDataSpec(llvm::StringRef spec, DataSpec &out, TrainError &error) {
  llvm::StringRef rest = spec;
  if (rest.consume_front("tokens:")) {
    out.kind = DataSpec::Tokens;
    out.path = rest.str();
    return true;
  }
  if (rest.consume_front("text:")) {
    out.kind = DataSpec::Text;
    out.path = rest.str();
    return true;
  }
  if (rest.consume_front("gen:")) {
    out.kind = DataSpec::Generated;
    if (rest.getAsInteger(10, out.count) || out.count <= 0) {
      error = dataError("gen:N needs a positive N");
      return false;
    }
    return true;
  }
  error = dataError("must be gen:N, text:FILE or tokens:FILE.npy (got '" +
                    spec.str() + "')");
  return false;
}

bool readTokenData(const std::string &path, int64_t seqLen, HostTensor &data,
                   TrainError &error) {
  if (!readNpy(path, data, error.detail))
    return false;
  if (data.dtype != DType::I64 || data.shape.size() != 2 ||
      data.shape[1] != seqLen || data.shape[0] < 1) {
    error = dataError("tokens: needs an int64 array [N, " +
                      std::to_string(seqLen) + "]");
    return false;
  }
  return true;
}

bool readTextData(const std::string &path, int64_t seqLen,
                  const BPETokenizer *tokenizer, HostTensor &data,
                  TrainError &error) {
  std::vector<int64_t> tokens;
  const char *unit = "bytes";
  if (tokenizer) {
    auto buf = llvm::MemoryBuffer::getFile(path);
    if (!buf) {
      error = TrainError{TrainOption::None, "cannot read '" + path + "'"};
      return false;
    }
    llvm::StringRef txt = (*buf)->getBuffer();
    std::vector<int32_t> ids =
        tokenizer->encode(std::string_view(txt.data(), txt.size()));
    tokens.assign(ids.begin(), ids.end());
    unit = "tokens";
  } else if (!readByteTokens(path, tokens, error.detail)) {
    return false;
  }
  const int64_t n = int64_t(tokens.size()) / seqLen;
  if (n < 1) {
    error = dataError("text: '" + path + "' has " +
                      std::to_string(tokens.size()) + " " + unit +
                      ", fewer than one sequence of " +
                      std::to_string(seqLen));
    return false;
  }
  data.dtype = DType::I64;
  data.shape = {n, seqLen};
  data.data.resize(size_t(n * seqLen) * 8);
  std::memcpy(data.data.data(), tokens.data(), data.data.size());
  return true;
}

bool readDataCache(const std::string &path, int64_t count, int64_t seqLen,
                   HostTensor &data) {
  std::string ignored;
  return llvm::sys::fs::exists(path) && readNpy(path, data, ignored) &&
         data.dtype == DType::I64 && data.shape.size() == 2 &&
         data.shape[0] == count && data.shape[1] == seqLen;
}

bool writeDataCache(const std::string &path, const HostTensor &data,
                    std::string &error) {
  if (!writeNpy(path + ".tmp", data, error) ||
      std::rename((path + ".tmp").c_str(), path.c_str()) != 0) {
    error = "cannot write " + path + ": " + error;
    return false;
  }
  return true;
}

bool generateData(CompiledModel &teacher, int64_t count, int64_t batch,
                  int64_t seqLen, int64_t vocab, uint64_t seed,
                  const std::function<void(int64_t, int64_t)> &progress,
                  HostTensor &out, std::string &error) {
  out.dtype = DType::I64;
  out.shape = {count, seqLen};
  out.data.assign(size_t(count * seqLen) * 8, 0);
  auto *all = reinterpret_cast<int64_t *>(out.data.data());
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + 17);
  for (int64_t first = 0; first < count; first += batch) {
    HostTensor ids;
    ids.dtype = DType::I64;
    ids.shape = {batch, seqLen};
    ids.data.assign(size_t(batch * seqLen) * 8, 0);
    auto *tok = reinterpret_cast<int64_t *>(ids.data.data());
    std::vector<int64_t> greedy(static_cast<size_t>(batch));
    for (int64_t b = 0; b < batch; ++b) {
      tok[b * seqLen] = int64_t(rng() % uint64_t(vocab));
      greedy[size_t(b)] = 3 + int64_t(rng() % 3);
    }
    for (int64_t t = 1; t < seqLen; ++t) {
      std::vector<HostTensor> res;
      if (!teacher.run({ids}, res, error))
        return false;
      const float *logits = reinterpret_cast<const float *>(res[0].data.data());
      for (int64_t b = 0; b < batch; ++b) {
        // Greedy for the first 3-5 positions, then sampled (temperature 1).
        const int64_t pick =
            pickToken(logits + (b * seqLen + (t - 1)) * vocab, vocab,
                      t <= greedy[size_t(b)] ? 0.0 : 1.0, rng);
        tok[b * seqLen + t] = pick;
      }
    }
    for (int64_t b = 0; b < batch && first + b < count; ++b)
      std::memcpy(all + (first + b) * seqLen, tok + b * seqLen,
                  size_t(seqLen) * 8);
    if (progress)
      progress(std::min(count, first + batch), count);
  }
  return true;
}

bool generateDataCached(CompiledModel &teacher, int64_t count, int64_t batch,
                        int64_t seqLen, int64_t vocab, uint64_t seed,
                        const std::function<void(int64_t, int64_t)> &progress,
                        HostTensor &out, std::string &error) {
  std::vector<std::unique_ptr<Generator>> gens;
  for (int64_t b = 0; b < batch; ++b) {
    gens.push_back(Generator::create(teacher, seqLen, error));
    if (!gens.back())
      return false;
    if (gens.back()->vocab() != vocab) {
      error = "the teacher's KV-cache entries have a vocabulary of " +
              std::to_string(gens.back()->vocab()) + ", not " +
              std::to_string(vocab);
      return false;
    }
  }
  out.dtype = DType::I64;
  out.shape = {count, seqLen};
  out.data.assign(size_t(count * seqLen) * 8, 0);
  auto *all = reinterpret_cast<int64_t *>(out.data.data());
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + 17);
  std::vector<int64_t> tok(static_cast<size_t>(batch * seqLen));
  std::vector<int64_t> greedy(static_cast<size_t>(batch));
  std::vector<std::vector<float>> logits(static_cast<size_t>(batch));
  for (int64_t first = 0; first < count; first += batch) {
    // The random numbers of generateData, in its order.
    for (int64_t b = 0; b < batch; ++b) {
      tok[b * seqLen] = int64_t(rng() % uint64_t(vocab));
      greedy[size_t(b)] = 3 + int64_t(rng() % 3);
      gens[b]->reset();
      if (seqLen > 1 &&
          !gens[b]->prefill({tok[b * seqLen]}, logits[b], error))
        return false;
    }
    for (int64_t t = 1; t < seqLen; ++t) {
      for (int64_t b = 0; b < batch; ++b)
        tok[b * seqLen + t] =
            pickToken(logits[b].data(), vocab,
                      t <= greedy[size_t(b)] ? 0.0 : 1.0, rng);
      if (t + 1 < seqLen)
        for (int64_t b = 0; b < batch; ++b)
          if (!gens[b]->decode(tok[b * seqLen + t], logits[b], error))
            return false;
    }
    for (int64_t b = 0; b < batch && first + b < count; ++b)
      std::memcpy(all + (first + b) * seqLen, tok.data() + b * seqLen,
                  size_t(seqLen) * 8);
    if (progress)
      progress(std::min(count, first + batch), count);
  }
  return true;
}

bool checkVocabulary(const HostTensor &data, int64_t vocab, TrainError &error) {
  for (int64_t i = 0, e = data.numElements(); i < e; ++i) {
    int64_t v;
    std::memcpy(&v, data.data.data() + i * 8, 8);
    if (v < 0 || v >= vocab) {
      error = TrainError{TrainOption::None,
                         "token id " + std::to_string(v) +
                             " in the data is outside the vocabulary [0, " +
                             std::to_string(vocab) + ")"};
      return false;
    }
  }
  return true;
}

HostTensor batchForStep(const HostTensor &data, uint64_t seed, int64_t step,
                        int64_t batch) {
  return shardForStep(data, seed, step, 0, batch);
}

HostTensor shardForStep(const HostTensor &data, uint64_t seed, int64_t step,
                        int64_t first, int64_t batch) {
  const int64_t numSeq = data.shape[0], seqLen = data.shape[1];
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + uint64_t(step));
  // The rows before `first` are drawn too, so that the shards of a global
  // batch are its consecutive pieces.
  for (int64_t b = 0; b < first; ++b)
    rng();
  HostTensor ids;
  ids.dtype = DType::I64;
  ids.shape = {batch, seqLen};
  ids.data.resize(size_t(batch * seqLen) * 8);
  for (int64_t b = 0; b < batch; ++b) {
    int64_t row = int64_t(rng() % uint64_t(numSeq));
    std::memcpy(ids.data.data() + b * seqLen * 8,
                data.data.data() + row * seqLen * 8, size_t(seqLen) * 8);
  }
  return ids;
}

} // namespace onebit
