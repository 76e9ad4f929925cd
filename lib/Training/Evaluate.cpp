//===- Evaluate.cpp - perplexity by the GPTQ protocol ---------------------===//

#include "onebit/Training/Evaluate.h"

#include "mlir/IR/BuiltinTypes.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

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

bool evaluatePerplexity(CompiledModel &model,
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
        const float *row = logits + (b * seq + p) * vocab;
        double mx = row[0];
        for (int64_t c = 1; c < vocab; ++c)
          mx = std::max(mx, double(row[c]));
        double sum = 0;
        for (int64_t c = 0; c < vocab; ++c)
          sum += std::exp(double(row[c]) - mx);
        double lp = double(row[next]) - mx - std::log(sum);
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

} // namespace onebit
