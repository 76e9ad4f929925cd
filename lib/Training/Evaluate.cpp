//===- Evaluate.cpp - perplexity by the GPTQ protocol ---------------------===//

#include "onebit/Training/Evaluate.h"
#include "onebit/Runtime/Generator.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>

namespace onebit {

bool readByteTokens(const std::string &path, std::vector<int64_t> &tokens,
                    std::string &error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot read '" + path + "'";
    return false;
  }
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
  tokens.assign(bytes.begin(), bytes.end());
  return true;
}

bool setStaticTokenShape(mlir::ModuleOp module, int64_t batch, int64_t seqLen,
                         std::string &error) {
  mlir::func::FuncOp entry;
  int publics = 0;
  for (auto f : module.getOps<mlir::func::FuncOp>())
    if (f.isPublic() && !f.isDeclaration()) {
      entry = f;
      ++publics;
    }
  if (publics != 1 || entry.getNumArguments() != 1)
    return true;
  auto type = mlir::dyn_cast<mlir::RankedTensorType>(entry.getArgumentTypes()[0]);
  if (!type || type.getRank() != 2 || !type.getElementType().isInteger(64))
    return true;
  llvm::SmallVector<int64_t> shape(type.getShape());
  const int64_t want[2] = {batch, seqLen};
  const char *names[2] = {"batch size", "sequence length"};
  for (int d = 0; d < 2; ++d) {
    if (!mlir::ShapedType::isDynamic(shape[d])) {
      if (want[d] > 0 && want[d] != shape[d]) {
        error = "the model's static " + std::string(names[d]) + " is " +
                std::to_string(shape[d]) + ", not " + std::to_string(want[d]);
        return false;
      }
      continue;
    }
    shape[d] = want[d] > 0 ? want[d] : d == 0 ? 1 : kDefaultSeqLen;
  }
  auto fixed = mlir::RankedTensorType::get(shape, type.getElementType());
  if (fixed == type)
    return true;
  // The argument becomes static; a cast gives the body the type it had.
  mlir::BlockArgument arg = entry.getArgument(0);
  arg.setType(fixed);
  module.getContext()->getOrLoadDialect<mlir::tensor::TensorDialect>();
  mlir::OpBuilder b(module.getContext());
  b.setInsertionPointToStart(&entry.front());
  auto cast = mlir::tensor::CastOp::create(b, entry.getLoc(), type, arg);
  arg.replaceAllUsesExcept(cast.getResult(), cast);
  entry.setType(mlir::FunctionType::get(module.getContext(), {fixed},
                                        entry.getResultTypes()));
  return true;
}

double logSoftmaxAt(const float *row, int64_t vocab, int64_t index) {
  double mx = row[0];
  for (int64_t c = 1; c < vocab; ++c)
    mx = std::max(mx, double(row[c]));
  double sum = 0;
  for (int64_t c = 0; c < vocab; ++c)
    sum += std::exp(double(row[c]) - mx);
  return double(row[index]) - mx - std::log(sum);
}

int64_t pickToken(const float *row, int64_t vocab, double temperature,
                  std::mt19937_64 &rng) {
  int64_t pick = 0;
  for (int64_t c = 1; c < vocab; ++c)
    if (row[c] > row[pick])
      pick = c;
  if (temperature <= 0)
    return pick;
  const double mx = row[pick];
  std::vector<double> p(static_cast<size_t>(vocab));
  double sum = 0;
  for (int64_t c = 0; c < vocab; ++c)
    sum += p[size_t(c)] = std::exp((double(row[c]) - mx) / temperature);
  double u = std::uniform_real_distribution<double>(0.0, sum)(rng);
  for (int64_t c = 0; c < vocab; ++c)
    if ((u -= p[size_t(c)]) <= 0)
      return c;
  return vocab - 1;
}

bool evaluatePerplexity(Executable &model,
                        const std::vector<int64_t> &tokens,
                        PerplexityResult &result, std::string &error) {
  const auto &in = model.inputs();
  const auto &out = model.results();
  if (in.size() != 1 || in[0].dtype != DType::I64 || in[0].shape.size() != 2 ||
      mlir::ShapedType::isDynamic(in[0].shape[0]) ||
      mlir::ShapedType::isDynamic(in[0].shape[1]) || out.empty() ||
      out[0].dtype != DType::F32 || out[0].shape.size() != 3) {
    error = "the model must take static token ids [batch, seq] (i64) and "
            "return logits [batch, seq, vocab] (f32)";
    return false;
  }
  const int64_t batch = in[0].shape[0], seq = in[0].shape[1];
  const int64_t windows = int64_t(tokens.size()) / seq;
  if (windows == 0) {
    error = "the text has " + std::to_string(tokens.size()) +
            " tokens, fewer than one window of " + std::to_string(seq);
    return false;
  }
  // Token ids index the embedding table: check them before the model runs.
  if (!mlir::ShapedType::isDynamic(out[0].shape[2]))
    for (int64_t i = 0, e = windows * seq; i < e; ++i)
      if (tokens[size_t(i)] < 0 || tokens[size_t(i)] >= out[0].shape[2]) {
        error = "token " + std::to_string(tokens[size_t(i)]) +
                " is outside the model's vocabulary of " +
                std::to_string(out[0].shape[2]);
        return false;
      }
  double nll = 0;
  int64_t count = 0;
  int64_t vocab = -1;
  for (int64_t w0 = 0; w0 < windows; w0 += batch) {
    HostTensor ids;
    ids.dtype = DType::I64;
    ids.shape = {batch, seq};
    ids.data.assign(size_t(batch * seq) * 8, 0);
    auto *t = reinterpret_cast<int64_t *>(ids.data.data());
    const int64_t rows = std::min(batch, windows - w0);
    for (int64_t b = 0; b < batch; ++b) {
      // Rows past the last window repeat it; they are not scored.
      int64_t w = w0 + std::min(b, rows - 1);
      std::memcpy(t + b * seq, tokens.data() + w * seq, size_t(seq) * 8);
    }
    std::vector<HostTensor> res;
    if (!model.run({ids}, res, error))
      return false;
    vocab = res[0].shape[2];
    const float *logits = reinterpret_cast<const float *>(res[0].data.data());
    for (int64_t b = 0; b < rows; ++b)
      for (int64_t p = 0; p + 1 < seq; ++p) {
        int64_t next = t[b * seq + p + 1];
        if (next < 0 || next >= vocab) {
          error = "token " + std::to_string(next) +
                  " is outside the model's vocabulary of " +
                  std::to_string(vocab);
          return false;
        }
        double lp = logSoftmaxAt(logits + (b * seq + p) * vocab, vocab, next);
        if (!std::isfinite(lp)) {
          error = "the model returned non-finite logits in window " +
                  std::to_string(w0 + b);
          return false;
        }
        nll -= lp;
        ++count;
      }
  }
  result.windows = windows;
  result.predictedTokens = count;
  result.meanNll = nll / double(count);
  result.perplexity = std::exp(result.meanNll);
  return true;
}

namespace {

/// Runs the model on one window (row 0 of the batch) and returns its logits
/// [seq, vocab] for positions [0, used).
bool windowLogits(Executable &model, const std::vector<int64_t> &window,
                  std::vector<float> &logits, int64_t &vocab,
                  std::string &error) {
  const auto &in = model.inputs();
  if (in.size() != 1 || in[0].dtype != DType::I64 || in[0].shape.size() != 2 ||
      mlir::ShapedType::isDynamic(in[0].shape[0]) ||
      mlir::ShapedType::isDynamic(in[0].shape[1])) {
    error = "the model must take static token ids [batch, seq] (i64)";
    return false;
  }
  const int64_t batch = in[0].shape[0], seq = in[0].shape[1];
  const auto &out = model.results();
  // Token ids index the embedding table: check them before the model runs.
  if (!out.empty() && out[0].shape.size() == 3 &&
      !mlir::ShapedType::isDynamic(out[0].shape[2]))
    for (int64_t tok : window)
      if (tok < 0 || tok >= out[0].shape[2]) {
        error = "token " + std::to_string(tok) +
                " is outside the model's vocabulary of " +
                std::to_string(out[0].shape[2]);
        return false;
      }
  HostTensor ids;
  ids.dtype = DType::I64;
  ids.shape = {batch, seq};
  ids.data.assign(size_t(batch * seq) * 8, 0);
  auto *t = reinterpret_cast<int64_t *>(ids.data.data());
  for (size_t i = 0; i < window.size() && int64_t(i) < seq; ++i)
    t[i] = window[i];
  std::vector<HostTensor> res;
  if (!model.run({ids}, res, error))
    return false;
  if (res.empty() || res[0].shape.size() != 3 || res[0].dtype != DType::F32) {
    error = "the model must return logits [batch, seq, vocab] (f32)";
    return false;
  }
  vocab = res[0].shape[2];
  const float *l = reinterpret_cast<const float *>(res[0].data.data());
  logits.assign(l, l + seq * vocab);
  return true;
}

int64_t windowSize(Executable &model) {
  const auto &in = model.inputs();
  return in.size() == 1 && in[0].shape.size() == 2 ? in[0].shape[1] : 0;
}

} // namespace

bool scoreContinuation(Executable &model,
                       const std::vector<int64_t> &context,
                       const std::vector<int64_t> &continuation,
                       double &logLikelihood, std::string &error) {
  const int64_t seq = windowSize(model);
  if (continuation.empty()) {
    error = "an empty continuation has no likelihood";
    return false;
  }
  if (context.empty()) {
    error = "the context is empty (the first token has no prediction)";
    return false;
  }
  if (seq < 2 || int64_t(continuation.size()) >= seq) {
    error = "a continuation of " + std::to_string(continuation.size()) +
            " tokens does not fit the model's window of " +
            std::to_string(seq);
    return false;
  }
  std::vector<int64_t> all(context);
  all.insert(all.end(), continuation.begin(), continuation.end());
  if (int64_t(all.size()) > seq)
    all.erase(all.begin(), all.end() - seq);
  std::vector<float> logits;
  int64_t vocab = 0;
  if (!windowLogits(model, all, logits, vocab, error))
    return false;
  const int64_t first = int64_t(all.size() - continuation.size());
  logLikelihood = 0;
  for (int64_t p = first; p < int64_t(all.size()); ++p) {
    if (all[p] < 0 || all[p] >= vocab) {
      error = "token " + std::to_string(all[p]) +
              " is outside the model's vocabulary of " + std::to_string(vocab);
      return false;
    }
    logLikelihood += logSoftmaxAt(logits.data() + (p - 1) * vocab, vocab,
                                  all[p]);
  }
  return true;
}

bool generateTokens(Executable &model, std::vector<int64_t> &tokens,
                    int64_t count, double temperature, uint64_t seed,
                    std::string &error) {
  if (tokens.empty()) {
    error = "the prompt is empty";
    return false;
  }
  // With the KV-cache entries: one prefill, then one decode step per token.
  if (hasCacheEntries(model)) {
    auto gen = Generator::create(model, int64_t(tokens.size()) + count, error);
    if (!gen)
      return false;
    SamplingOptions options;
    options.temperature = std::max(temperature, 0.0);
    options.seed = seed;
    Sampler sampler(options);
    GenerationStats stats;
    std::vector<int64_t> out;
    if (!generate(*gen, tokens, count, sampler, /*eosId=*/-1,
                  [&](int64_t id, const std::vector<float> &) {
                    out.push_back(id);
                    return true;
                  },
                  stats, error))
      return false;
    tokens.insert(tokens.end(), out.begin(), out.end());
    return true;
  }
  const int64_t seq = windowSize(model);
  std::mt19937_64 rng(seed);
  for (int64_t n = 0; n < count; ++n) {
    std::vector<int64_t> window(tokens);
    if (int64_t(window.size()) > seq)
      window.erase(window.begin(), window.end() - seq);
    std::vector<float> logits;
    int64_t vocab = 0;
    if (!windowLogits(model, window, logits, vocab, error))
      return false;
    const int64_t pick = pickToken(
        logits.data() + (window.size() - 1) * vocab, vocab, temperature, rng);
    tokens.push_back(pick);
  }
  return true;
}

} // namespace onebit
