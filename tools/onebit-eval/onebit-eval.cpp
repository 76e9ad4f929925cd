//===- onebit-eval.cpp - perplexity of a (1-bit) language model -----------===//
//
// onebit-eval MODEL --text FILE    perplexity, GPTQ protocol, byte tokens
// onebit-eval MODEL --tokens F.npy the same on int64 token ids
//
//===----------------------------------------------------------------------===//

#include "onebit/Runner/Runner.h"
#include "onebit/Training/Evaluate.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
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
  static cl::opt<int> threads("threads", cl::desc("kernel threads (0: all)"),
                              cl::init(0));
  cl::ParseCommandLineOptions(argc, argv, "onebit perplexity evaluation\n");
  if (text.empty() == tokensPath.empty())
    return fail("give exactly one of --text FILE or --tokens FILE.npy");

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
