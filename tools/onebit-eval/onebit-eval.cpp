//===- onebit-eval.cpp - perplexity of a (1-bit) language model -----------===//
//
// onebit-eval MODEL --text FILE    perplexity, GPTQ protocol
// onebit-eval MODEL --tokens F.npy the same on int64 token ids
// onebit-eval MODEL --generate "prompt" [--max-tokens N] [--temperature T]
// onebit-eval MODEL --choices items.jsonl   zero-shot multiple choice:
//   {"context": "...", "choices": ["...", ...], "answer": i} per line; the
//   choice with the highest log-likelihood after the context is picked.
// Text is tokenized with --tokenizer FILE (a .gguf model's tokenizer or a
// Hugging Face tokenizer.json), by default with MODEL's own (a .gguf file's,
// or the one a GGUF import carries as `onebit.tokenizer`), else byte-level
// (token = byte) -- refused for a vocabulary larger than bytes unless
// --tokenizer=bytes. MODEL may be .mlir, .mlirbc, .onnx or .gguf; dynamic
// token-id shapes (GGUF) are fixed to [1, --seq-len].
//
//===----------------------------------------------------------------------===//

#include "onebit/Frontend/ModelLoader.h"
#include "onebit/Runtime/Artifact.h"
#include "onebit/Runtime/Generator.h"
#include "onebit/Target/Artifact/CompileCache.h"
#include "onebit/Runner/Runner.h"
#include "onebit/Support/Npy.h"
#include "onebit/Support/JsonDepth.h"
#include "onebit/Target/GGUF/ImportGGUF.h"
#include "onebit/Tokenizer/TokenizerLoader.h"
#include "onebit/Training/Evaluate.h"

#include "EnvOptions.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;

static cl::OptionCategory EvalCategory("onebit-eval options");

static int fail(const std::string &msg) {
  errs() << "onebit-eval: error: " << msg << "\n";
  return 1;
}

/// The token vocabulary of `module`'s entry: its ids' index bound, else the
/// logits' last dimension; 0 when unknown.
static int64_t vocabularyOf(mlir::ModuleOp module) {
  for (auto f : module.getOps<mlir::func::FuncOp>()) {
    if (!f.isPublic() || f.isExternal() || f.getNumArguments() == 0)
      continue;
    if (auto b = f.getArgAttrOfType<mlir::IntegerAttr>(0, "onebit.index_bound"))
      return b.getInt();
    if (f.getNumResults() == 0)
      return 0;
    auto t = dyn_cast<mlir::RankedTensorType>(f.getResultTypes()[0]);
    return t && t.getRank() > 0 && !t.isDynamicDim(t.getRank() - 1)
               ? t.getDimSize(t.getRank() - 1)
               : 0;
  }
  return 0;
}

/// The vocabulary of an artifact: the last dimension of its first entry's
/// logits, 0 when it is not static.
static int64_t artifactVocabulary(const onebit::Artifact &a) {
  for (const auto &e : a.entries())
    if (!e.results.empty() && !e.results[0].shape.empty() &&
        !onebit::isDynamicDim(e.results[0].shape.back()))
      return e.results[0].shape.back();
  return 0;
}

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  if (cl::Option *o = cl::getRegisteredOptions().lookup("threads"))
    o->setArgStr("llvm-threads");
  static cl::opt<std::string> modelPath(
      cl::Positional, cl::Required,
      cl::desc("<model.mlir|.mlirbc|.onnx|.gguf|.onebit>"), cl::cat(EvalCategory));
  static cl::opt<std::string> text(
      "text", cl::desc("text file (tokenized as --tokenizer says)"),
      cl::cat(EvalCategory));
  static cl::opt<std::string> tokensPath(
      "tokens", cl::desc("int64 token ids (.npy, any shape, flattened)"),
      cl::cat(EvalCategory));
  static cl::opt<std::string> generate(
      "generate", cl::desc("continue this prompt"), cl::cat(EvalCategory));
  static cl::opt<std::string> tokenizerPath(
      "tokenizer",
      cl::desc("BPE tokenizer for --text, --generate and --choices: a .gguf "
               "model or a Hugging Face tokenizer.json, or 'bytes' (token = "
               "byte). Default: MODEL's own (a .gguf file's or a GGUF "
               "import's), else bytes for a vocabulary of at most 256"),
      cl::cat(EvalCategory));
  static cl::opt<int64_t> seqLen(
      "seq-len",
      cl::desc("window length; fixes a dynamic one such as a GGUF model's "
               "(default 128, batch 1), must match a static one"),
      cl::init(0), cl::cat(EvalCategory));
  static cl::opt<int64_t> maxTokens("max-tokens",
                                    cl::desc("tokens to generate"),
                                    cl::init(64), cl::cat(EvalCategory));
  static cl::opt<double> temperature(
      "temperature", cl::desc("sampling temperature (0: greedy)"),
      cl::init(0.0), cl::cat(EvalCategory));
  static cl::opt<uint64_t> seed("seed", cl::desc("sampling seed"), cl::init(0),
                                cl::cat(EvalCategory));
  static cl::opt<std::string> choices(
      "choices",
      cl::desc("multiple-choice items (JSONL: context, choices, "
               "answer)"),
      cl::cat(EvalCategory));
  static cl::opt<int> threads("threads", cl::desc("kernel threads (0: all)"),
                              cl::init(0), cl::cat(EvalCategory));
  cl::HideUnrelatedOptions(EvalCategory);
  cl::ParseCommandLineOptions(argc, argv, "onebit perplexity evaluation\n");
  onebit::env::applyRuntimeEnvironment();
  int modes = !text.empty() + !tokensPath.empty() +
              (generate.getNumOccurrences() > 0) + !choices.empty();
  if (modes != 1)
    return fail("give exactly one of --text FILE, --tokens FILE.npy, "
                "--generate PROMPT or --choices FILE.jsonl");
  auto bytesOf = [](llvm::StringRef s) {
    return std::vector<int64_t>(s.bytes_begin(), s.bytes_end());
  };
  if (seqLen < 0)
    return fail("--seq-len must not be negative");
  // The model first: it may carry its tokenizer.
  static mlir::MLIRContext ctx;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  // A compiled artifact (onebit-compile) runs as it is: its window and
  // entries were fixed when it was compiled.
  std::unique_ptr<onebit::Artifact> artifact;
  if (onebit::isArtifactPath(modelPath)) {
    std::string error;
    artifact = onebit::Artifact::open(modelPath, error);
    if (!artifact)
      return fail(error);
    if (seqLen)
      return fail("--seq-len does not apply to an artifact: its window was "
                  "fixed when it was compiled");
  } else {
    std::string error;
    // --generate decodes with the KV cache: a GGUF model, or an ONNX
    // decoder exported with past key/values, is imported with its cache
    // entries (a .mlir/.mlirbc that has them uses them too).
    onebit::ModelLoadOptions options;
    options.gguf.kvCache = generate.getNumOccurrences() > 0;
    if (options.gguf.kvCache)
      options.onnx.kvCache = onebit::ONNXKVCache::IfWithPast;
    module = onebit::loadModel(modelPath, ctx, options, error);
    if (!module)
      return fail(error);
  }
  // The tokenizer: --tokenizer, else the model's own, else bytes.
  std::string tokenizerFile = tokenizerPath;
  bool bytes = tokenizerFile == "bytes";
  if (bytes)
    tokenizerFile.clear();
  if (tokenizerFile.empty() && !bytes && tokensPath.empty() &&
      onebit::carriesTokenizer(modelPath))
    tokenizerFile = modelPath;
  std::unique_ptr<onebit::BPETokenizer> tokenizer;
  if (!tokensPath.empty() && (!tokenizerFile.empty() || bytes))
    return fail("--tokenizer does not apply to --tokens (token ids)");
  if (!tokenizerFile.empty()) {
    std::string error;
    tokenizer = onebit::loadTokenizer(tokenizerFile, error);
    if (!tokenizer)
      return fail(error);
  } else if (!bytes && tokensPath.empty()) {
    std::string error;
    if (artifact) {
      if (!artifact->tokenizerBytes().empty()) {
        tokenizer = onebit::BPETokenizer::deserialize(
            artifact->tokenizerBytes(), error);
        if (!tokenizer)
          return fail(modelPath + ": its tokenizer: " + error);
      }
    } else {
      tokenizer = onebit::tokenizerOf(*module, error);
      if (!error.empty())
        return fail(modelPath + ": " + error);
    }
    if (tokenizer) {
      tokenizerFile = modelPath;
    } else if (int64_t vocab = artifact ? artifactVocabulary(*artifact)
                                        : vocabularyOf(*module);
               vocab > 256) {
      // Byte ids would silently be read as other tokens of the vocabulary.
      return fail(modelPath + " has a vocabulary of " + std::to_string(vocab) +
                  " tokens and carries no tokenizer, so its text cannot be "
                  "byte-level tokens: give --tokenizer FILE (the .gguf it was "
                  "imported from, or its tokenizer.json), or "
                  "--tokenizer=bytes if it does take bytes");
    }
  }
  // Text to token ids; `first` allows the tokenizer's BOS (not for a
  // continuation).
  auto encode = [&](StringRef s, bool first) {
    if (!tokenizer)
      return bytesOf(s);
    std::vector<int32_t> ids =
        tokenizer->encode(std::string_view(s.data(), s.size()), true, first);
    return std::vector<int64_t>(ids.begin(), ids.end());
  };
  // Errors of the evaluations; an id beyond the model's vocabulary hints at
  // a tokenizer of another model.
  auto evalFail = [&](std::string error) {
    if (tokenizer && error.find("outside the model's vocabulary") !=
                         std::string::npos)
      error += " (the tokenizer '" + tokenizerFile + "' has " +
               std::to_string(tokenizer->vocabSize()) +
               " tokens: is it this model's?)";
    return fail(error);
  };
  // Compiled, or loaded from the compile cache (ONEBIT_CACHE_DIR).
  auto load = [&](std::string &error) -> std::unique_ptr<onebit::Executable> {
    onebit::setNumThreads(threads);
    if (artifact)
      return std::move(artifact);
    onebit::CacheResult cached;
    if (generate.getNumOccurrences() &&
        module->lookupSymbol(onebit::kPrefillEntry) &&
        module->lookupSymbol(onebit::kDecodeEntry))
      return onebit::compileWithCache(
          std::move(module), {onebit::kPrefillEntry, onebit::kDecodeEntry},
          onebit::Target::Cpu, onebit::env::compileOptions(),
          onebit::env::compileCacheOptions(), cached, error);
    if (!onebit::setStaticTokenShape(*module, /*batch=*/0, seqLen, error))
      return nullptr;
    return onebit::compileWithCache(std::move(module), {}, onebit::Target::Cpu,
                                    onebit::env::compileOptions(),
                                    onebit::env::compileCacheOptions(), cached,
                                    error);
  };

  if (generate.getNumOccurrences()) {
    std::string error;
    auto model = load(error);
    if (!model)
      return fail(error);
    std::vector<int64_t> toks = encode(generate, true);
    if (maxTokens < 0)
      return fail("--max-tokens must not be negative");
    if (!onebit::generateTokens(*model, toks, maxTokens, temperature, seed,
                                error))
      return evalFail(error);
    if (tokenizer) {
      // The prompt and its continuation, without the BOS encode() added.
      size_t from = tokenizer->addBos() && !toks.empty() &&
                            toks[0] == tokenizer->bosId()
                        ? 1
                        : 0;
      outs() << tokenizer->decode(
                    std::vector<int32_t>(toks.begin() + from, toks.end()))
             << "\n";
      return 0;
    }
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
      if (onebit::jsonNestingDepth(std::string_view(line.data(), line.size())) >
          onebit::kMaxJsonNesting)
        return fail(where + "JSON nests deeper than " +
                    std::to_string(onebit::kMaxJsonNesting) + " levels");
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
        if (!onebit::scoreContinuation(*model, encode(*context, true),
                                       encode(*c, false), ll, error))
          return evalFail(where + error);
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
  if (!text.empty() && tokenizer) {
    auto buf = MemoryBuffer::getFile(text);
    if (!buf)
      return fail("cannot read '" + text + "'");
    tokens = encode((*buf)->getBuffer(), true);
  } else if (!text.empty()) {
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

  auto model = load(error);
  if (!model)
    return fail(error);
  onebit::PerplexityResult r;
  if (!onebit::evaluatePerplexity(*model, tokens, r, error))
    return evalFail(error);
  outs() << format("perplexity: %.4f\n", r.perplexity);
  outs() << format("mean_nll: %.6f windows: %lld predicted_tokens: %lld\n",
                   r.meanNll, static_cast<long long>(r.windows),
                   static_cast<long long>(r.predictedTokens));
  return 0;
}
