//===- onebit-eval.cpp - perplexity of a (1-bit) language model -----------===//
//
// onebit-eval MODEL --text FILE    perplexity, GPTQ protocol, byte tokens
// onebit-eval MODEL --tokens F.npy the same on int64 token ids
// onebit-eval MODEL --generate "prompt" [--max-tokens N] [--temperature T]
// onebit-eval MODEL --choices items.jsonl   zero-shot multiple choice:
//   {"context": "...", "choices": ["...", ...], "answer": i} per line; the
//   choice with the highest log-likelihood after the context is picked.
//
//===----------------------------------------------------------------------===//

#include "onebit/Runner/Runner.h"
#include "onebit/Training/Evaluate.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;

static int fail(const std::string &msg) {
  errs() << "onebit-eval: error: " << msg << "\n";
  return 1;
}

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  if (cl::Option *o = cl::getRegisteredOptions().lookup("threads"))
    o->setArgStr("llvm-threads");
  static cl::opt<std::string> modelPath(
      cl::Positional, cl::Required, cl::desc("<model.mlir|.mlirbc|.onnx>"));
  static cl::opt<std::string> text(
      "text", cl::desc("text file, byte-level tokens (token = byte)"));
  static cl::opt<std::string> tokensPath(
      "tokens", cl::desc("int64 token ids (.npy, any shape, flattened)"));
  static cl::opt<std::string> generate(
      "generate", cl::desc("continue this prompt (byte-level tokens)"));
  static cl::opt<int64_t> maxTokens("max-tokens",
                                    cl::desc("tokens to generate"),
                                    cl::init(64));
  static cl::opt<double> temperature(
      "temperature", cl::desc("sampling temperature (0: greedy)"),
      cl::init(0.0));
  static cl::opt<uint64_t> seed("seed", cl::desc("sampling seed"),
                                cl::init(0));
  static cl::opt<std::string> choices(
      "choices", cl::desc("multiple-choice items (JSONL: context, choices, "
                          "answer)"));
  static cl::opt<int> threads("threads", cl::desc("kernel threads (0: all)"),
                              cl::init(0));
  cl::ParseCommandLineOptions(argc, argv, "onebit perplexity evaluation\n");
  int modes = !text.empty() + !tokensPath.empty() +
              (generate.getNumOccurrences() > 0) + !choices.empty();
  if (modes != 1)
    return fail("give exactly one of --text FILE, --tokens FILE.npy, "
                "--generate PROMPT or --choices FILE.jsonl");
  auto bytesOf = [](llvm::StringRef s) {
    return std::vector<int64_t>(s.bytes_begin(), s.bytes_end());
  };
  auto load = [&](std::string &error)
      -> std::unique_ptr<onebit::CompiledModel> {
    onebit::setNumThreads(threads);
    static mlir::MLIRContext ctx;
    auto module = onebit::loadModel(modelPath, ctx, error);
    if (!module)
      return nullptr;
    return onebit::CompiledModel::compile(std::move(module), "", error);
  };

  if (generate.getNumOccurrences()) {
    std::string error;
    auto model = load(error);
    if (!model)
      return fail(error);
    std::vector<int64_t> toks = bytesOf(generate);
    if (maxTokens < 0)
      return fail("--max-tokens must not be negative");
    if (!onebit::generateTokens(*model, toks, maxTokens, temperature, seed,
                                error))
      return fail(error);
    std::string out;
    for (int64_t t : toks)
      out.push_back(t >= 0 && t < 256 ? char(t) : '?');
    outs() << out << "\n";
    return 0;
  }

  if (!choices.empty()) {
    auto buf = MemoryBuffer::getFile(choices);
    if (!buf)
      return fail("cannot read '" + choices + "'");
    std::string error;
    auto model = load(error);
    if (!model)
      return fail(error);
    int64_t items = 0, correct = 0, lineNo = 0;
    SmallVector<StringRef> lines;
    (*buf)->getBuffer().split(lines, '\n', -1, false);
    for (StringRef line : lines) {
      ++lineNo;
      if (line.trim().empty())
        continue;
      std::string where = choices + ":" + std::to_string(lineNo) + ": ";
      auto v = json::parse(line);
      if (!v)
        return fail(where + "invalid JSON: " + toString(v.takeError()));
      const json::Object *o = v->getAsObject();
      auto context = o ? o->getString("context") : std::nullopt;
      const json::Array *cs = o ? o->getArray("choices") : nullptr;
      auto answer = o ? o->getInteger("answer") : std::nullopt;
      if (!context || !cs || cs->empty() || !answer || *answer < 0 ||
          *answer >= int64_t(cs->size()))
        return fail(where + "each line needs \"context\" (string), "
                    "\"choices\" (non-empty list of strings) and \"answer\" "
                    "(an index into choices)");
      int64_t best = -1;
      double bestLL = -INFINITY;
      for (size_t i = 0; i < cs->size(); ++i) {
        auto c = (*cs)[i].getAsString();
        if (!c)
          return fail(where + "choice " + std::to_string(i) +
                      " is not a string");
        double ll;
        if (!onebit::scoreContinuation(*model, bytesOf(*context), bytesOf(*c),
                                       ll, error))
          return fail(where + error);
        if (ll > bestLL) {
          bestLL = ll;
          best = int64_t(i);
        }
      }
      ++items;
      correct += best == *answer;
    }
    if (items == 0)
      return fail("'" + choices + "' has no items");
    outs() << format("accuracy: %.4f (%lld of %lld)\n",
                     double(correct) / double(items),
                     static_cast<long long>(correct),
                     static_cast<long long>(items));
    return 0;
  }

  std::string error;
  std::vector<int64_t> tokens;
  if (!text.empty()) {
    if (!onebit::readByteTokens(text, tokens, error))
      return fail(error);
  } else {
    onebit::HostTensor t;
    if (!onebit::readNpy(tokensPath, t, error))
      return fail(error);
    if (t.dtype != onebit::DType::I64)
      return fail(tokensPath + ": token ids must be int64");
    tokens.resize(size_t(t.numElements()));
    std::memcpy(tokens.data(), t.data.data(), t.data.size());
  }
  if (tokens.empty())
    return fail("the text is empty");

  onebit::setNumThreads(threads);
  mlir::MLIRContext ctx;
  auto module = onebit::loadModel(modelPath, ctx, error);
  if (!module)
    return fail(error);
  auto model = onebit::CompiledModel::compile(std::move(module), "", error);
  if (!model)
    return fail(error);
  onebit::PerplexityResult r;
  if (!onebit::evaluatePerplexity(*model, tokens, r, error))
    return fail(error);
  outs() << format("perplexity: %.4f\n", r.perplexity);
  outs() << format("mean_nll: %.6f windows: %lld predicted_tokens: %lld\n",
                   r.meanNll, static_cast<long long>(r.windows),
                   static_cast<long long>(r.predictedTokens));
  return 0;
}
