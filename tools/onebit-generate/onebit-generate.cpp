//===- onebit-generate.cpp - text generation with a KV cache --------------===//
//
// onebit-generate MODEL [--tokenizer F] (--prompt TEXT | --prompt-file F |
//     --prompt-ids 1,2,3) [--max-tokens N] [--temperature T] [--top-k K]
//     [--top-p P] [--seed S] [--ctx N] [--threads N] [--ids]
//     [--device cpu|gpu-emulation|cuda] [--no-cache] [--logits F.npy]
//
// Streams the continuation to stdout as tokens are chosen (with --ids, the
// token ids, space-separated) and prints prompt and generation speed to
// stderr. MODEL is a .gguf (imported with its KV-cache entries), a .onnx
// decoder exported with past key/values (imported with them: the importer
// says why a graph is not one), a .mlir/.mlirbc that has them
// (onebit-translate --import-gguf/--import-onnx --kv-cache, then quantized
// or not), or a .onebit artifact of one (onebit-compile), which starts
// without compiling. The library does the work (onebit/Runner/
// Generator.h); this file maps flags onto it.
//
//===----------------------------------------------------------------------===//

#include "onebit/Frontend/ModelLoader.h"

#include "CacheTypeFlag.h"
#include "onebit/Runner/CudaHooks.h"
#include "onebit/Runner/Runner.h"
#include "onebit/Runtime/Artifact.h"
#include "onebit/Runtime/Generator.h"
#include "onebit/Support/Npy.h"
#include "onebit/Target/Artifact/CompileCache.h"
#include "onebit/Target/GGUF/ImportGGUF.h"
#include "onebit/Tokenizer/TokenizerLoader.h"

#include "EnvOptions.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>

using namespace llvm;

static cl::OptionCategory category("onebit-generate options");

static int fail(const std::string &msg) {
  errs() << "onebit-generate: error: " << msg << "\n";
  return 1;
}

/// Token ids from "1,2,3" (spaces allowed); false with `error` otherwise.
static bool parseIds(StringRef text, std::vector<int64_t> &ids,
                     std::string &error) {
  SmallVector<StringRef> parts;
  text.split(parts, ',', -1, false);
  for (StringRef p : parts) {
    int64_t v;
    if (p.trim().getAsInteger(10, v)) {
      error = "--prompt-ids: '" + p.trim().str() + "' is not a token id";
      return false;
    }
    ids.push_back(v);
  }
  if (ids.empty())
    error = "--prompt-ids is empty";
  return !ids.empty();
}

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  if (cl::Option *o = cl::getRegisteredOptions().lookup("threads"))
    o->setArgStr("llvm-threads");
  static cl::opt<std::string> modelPath(cl::Positional, cl::Required,
                                        cl::desc("<model.gguf|.mlir|.mlirbc|.onebit>"),
                                        cl::cat(category));
  static cl::opt<std::string> tokenizerPath(
      "tokenizer",
      cl::desc("BPE tokenizer: a .gguf model or a Hugging Face "
               "tokenizer.json (default: the model's own)"),
      cl::cat(category));
  static cl::opt<std::string> prompt("prompt", cl::desc("prompt text"),
                                     cl::cat(category));
  static cl::opt<std::string> promptFile(
      "prompt-file", cl::desc("file holding the prompt text (UTF-8)"),
      cl::cat(category));
  static cl::opt<std::string> promptIds(
      "prompt-ids", cl::desc("prompt as token ids: 1,2,3"), cl::cat(category));
  static cl::opt<int64_t> maxTokens("max-tokens",
                                    cl::desc("tokens to generate (128)"),
                                    cl::init(128), cl::cat(category));
  static cl::opt<double> temperature(
      "temperature", cl::desc("sampling temperature; 0 is greedy (0.8)"),
      cl::init(0.8), cl::cat(category));
  static cl::opt<int64_t> topK("top-k",
                               cl::desc("sample from the K most likely "
                                        "tokens; 0: all (40)"),
                               cl::init(40), cl::cat(category));
  static cl::opt<double> topP("top-p",
                              cl::desc("nucleus: the smallest set of tokens "
                                       "with this probability mass (0.95)"),
                              cl::init(0.95), cl::cat(category));
  static cl::opt<uint64_t> seed("seed", cl::desc("sampling seed (0)"),
                                cl::init(0), cl::cat(category));
  static cl::opt<int64_t> ctxSize(
      "ctx", cl::desc("KV-cache context size in tokens (default: the "
                      "prompt plus --max-tokens)"),
      cl::init(0), cl::cat(category));
  static cl::opt<int> threads("threads", cl::desc("kernel threads (0: all)"),
                              cl::init(0), cl::cat(category));
  static cl::opt<bool> printIds(
      "ids", cl::desc("print the generated token ids instead of text"),
      cl::cat(category));
  // cl::desc keeps a StringRef: the text must outlive the option.
  static const std::string deviceHelp =
      std::string(onebit::kDeviceHelp) +
      ". On cuda the weights and the KV cache live in device memory: per "
      "token only the ids, the position and the logits move";
  static cl::opt<std::string> device("device", cl::desc(deviceHelp),
                                     cl::init("cpu"), cl::cat(category));
  static onebit::CacheTypeFlag cacheType(category);
  static cl::opt<bool> noCache(
      "no-cache",
      cl::desc("no KV cache: run the full forward over the whole sequence "
               "for every token (slow; to check the cached generation)"),
      cl::cat(category));
  static cl::opt<std::string> logitsPath(
      "logits",
      cl::desc("write the logits each token was chosen from to this .npy "
               "([tokens, vocab] f32)"),
      cl::cat(category));
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv,
                              "onebit text generation with a KV cache\n");
  onebit::env::applyRuntimeEnvironment();

  if (!prompt.getNumOccurrences() + promptFile.empty() + promptIds.empty() !=
      2)
    return fail("give exactly one of --prompt TEXT, --prompt-file FILE or "
                "--prompt-ids 1,2,3");
  if (maxTokens < 0)
    return fail("--max-tokens must not be negative");
  onebit::Target target;
  {
    std::string deviceError;
    if (!onebit::selectDevice(device, target, deviceError))
      return fail(deviceError);
  }
  if (ctxSize < 0)
    return fail("--ctx must not be negative");
  onebit::SamplingOptions sampling;
  sampling.temperature = temperature;
  sampling.topK = topK;
  sampling.topP = topP;
  sampling.seed = seed;
  if (std::string why = sampling.validate(); !why.empty())
    return fail(why);

  // An artifact (onebit-compile) runs without compiling; any other model
  // is loaded, imported if need be, and JIT-compiled.
  std::string error;
  std::unique_ptr<onebit::Executable> model;
  std::unique_ptr<onebit::BPETokenizer> tokenizer;
  std::vector<std::string> entries{onebit::kPrefillEntry,
                                   onebit::kDecodeEntry};
  double compileSeconds = -1, loadSeconds = -1;
  std::string cachePath; ///< the compile cache's artifact, on a hit
  if (onebit::isArtifactPath(modelPath)) {
    if (noCache)
      return fail("--no-cache needs a model to compile, not an artifact");
    // An artifact runs on the device it was compiled for (its metadata
    // says which); --device cuda only confirms a cuda artifact.
    if (target == onebit::Target::GpuEmulation)
      return fail("an artifact runs on the device it was compiled for "
                  "(cpu or cuda); --device " + device +
                  " needs the model itself");
    auto t0 = std::chrono::steady_clock::now();
    auto artifact = onebit::Artifact::open(modelPath, error);
    if (!artifact)
      return fail(error);
    if (target == onebit::Target::Cuda && artifact->metadata().target != "cuda")
      return fail(modelPath + " was compiled for the " +
                  artifact->metadata().target +
                  "; --device cuda needs an artifact compiled with "
                  "onebit-compile --device cuda");
    loadSeconds = std::chrono::duration<double>(
                      std::chrono::steady_clock::now() - t0)
                      .count();
    if (tokenizerPath.empty() && !artifact->tokenizerBytes().empty()) {
      tokenizer = onebit::BPETokenizer::deserialize(
          artifact->tokenizerBytes(), error);
      if (!tokenizer)
        return fail(modelPath + ": its tokenizer: " + error);
    }
    if (!onebit::hasCacheEntries(*artifact))
      return fail(modelPath + " has no KV-cache entries (@prefill and "
                  "@decode): compile it from a model that has them "
                  "(onebit-compile MODEL.gguf, or --entries prefill,decode)");
    model = std::move(artifact);
  }
  // The cache's element type is chosen at import: for a .gguf here, for
  // other models by onebit-translate --kv-cache-type.
  std::string cacheError;
  auto kvCacheType = cacheType.resolve({modelPath}, cacheError);
  if (!kvCacheType)
    return fail(cacheError);
  mlir::OwningOpRef<mlir::ModuleOp> module;
  static mlir::MLIRContext ctx;
  if (!model) {
    onebit::ModelLoadOptions load;
    load.gguf.kvCache = true;
    load.gguf.kvCacheType = *kvCacheType;
    // A with-past ONNX export gets its entries; without --no-cache, the
    // importer says why an ONNX model without one is not it.
    load.onnx.kvCache = noCache ? onebit::ONNXKVCache::IfWithPast
                                : onebit::ONNXKVCache::Required;
    module = onebit::loadModel(modelPath, ctx, load, error);
    if (!module)
      return fail(error);
    if (tokenizerPath.empty()) {
      tokenizer = onebit::tokenizerOf(*module, error);
      if (!error.empty())
        return fail(modelPath + ": " + error);
    }
  }
  // The tokenizer: --tokenizer, else the model's own.
  if (!tokenizerPath.empty()) {
    tokenizer = onebit::loadTokenizer(tokenizerPath, error);
    if (!tokenizer)
      return fail(error);
  }
  std::vector<int64_t> promptTokens;
  if (!promptIds.empty()) {
    if (!parseIds(promptIds, promptTokens, error))
      return fail(error);
  } else {
    std::string text = prompt;
    if (!promptFile.empty()) {
      auto buf = MemoryBuffer::getFile(promptFile, /*IsText=*/false);
      if (!buf)
        return fail(promptFile + ": " + buf.getError().message());
      text = (*buf)->getBuffer().str();
      if (text.find('\0') != std::string::npos || !json::isUTF8(text))
        return fail(promptFile + " is not UTF-8 text");
    }
    if (!tokenizer)
      return fail(modelPath + " carries no tokenizer, so a text prompt "
                  "cannot be tokenized: give --tokenizer FILE (the .gguf it "
                  "was imported from, or its tokenizer.json) or "
                  "--prompt-ids");
    for (int32_t id : tokenizer->encode(text, true, true))
      promptTokens.push_back(id);
    if (promptTokens.empty())
      return fail("the prompt is empty");
  }
  onebit::setNumThreads(threads);
  if (!model) {
    if (!noCache && (!module->lookupSymbol(onebit::kPrefillEntry) ||
                     !module->lookupSymbol(onebit::kDecodeEntry)))
      return fail(modelPath +
                  " has no KV-cache entries (@prefill and @decode): import "
                  "the model with onebit-translate --kv-cache (a GGUF "
                  "model, or an ONNX decoder exported with past key/values; "
                  "a .gguf or .onnx given here is imported with them), or "
                  "give --no-cache to recompute the full forward per token");
    // The full forward is the GGUF import's @main (or the module's only
    // other public function).
    if (noCache) {
      entries.clear();
      for (auto fn : module->getOps<mlir::func::FuncOp>())
        if (fn.isPublic() && !fn.isDeclaration() &&
            fn.getName() != onebit::kPrefillEntry &&
            fn.getName() != onebit::kDecodeEntry)
          entries.push_back(fn.getName().str());
      if (entries.size() != 1)
        return fail("--no-cache needs the model's full forward: one public "
                    "function besides @prefill and @decode");
    }
    onebit::CacheResult cached;
    auto compiled = onebit::compileWithCache(
        std::move(module), entries, target, onebit::env::compileOptions(),
        onebit::env::compileCacheOptions(), cached, error);
    if (!compiled)
      return fail(target == onebit::Target::Cuda ? "--device=cuda: " + error
                                                 : error);
    if (cached.rebuilt)
      errs() << "onebit-generate: note: the compile cache's entry "
             << cached.path << " failed the artifact checks and was rebuilt\n";
    if (cached.hit) {
      loadSeconds = cached.seconds;
      cachePath = cached.path;
    } else {
      compileSeconds = cached.seconds;
    }
    model = std::move(compiled);
  }
  int64_t context = ctxSize ? int64_t(ctxSize)
                            : int64_t(promptTokens.size()) + maxTokens;
  auto gen = noCache ? onebit::Generator::createRecompute(*model, entries[0],
                                                          context, error)
                     : onebit::Generator::create(*model, context, error);
  if (!gen)
    return fail(error);

  // Streamed output: the text of every token so far, printed past what was
  // already printed (a character may span tokens).
  std::vector<int32_t> generated;
  size_t printed = 0;
  bool first = true;
  int64_t eos = tokenizer ? tokenizer->eosId() : -1;
  onebit::HostTensor logitsOut;
  logitsOut.shape = {0, gen->vocab()};
  auto onToken = [&](int64_t id, const std::vector<float> &logits) {
    if (!logitsPath.empty()) {
      const char *p = reinterpret_cast<const char *>(logits.data());
      logitsOut.data.insert(logitsOut.data.end(), p,
                            p + logits.size() * sizeof(float));
      ++logitsOut.shape[0];
    }
    if (printIds || !tokenizer) {
      outs() << (first ? "" : " ") << id;
      first = false;
      outs().flush();
      return true;
    }
    if (id == eos)
      return false;
    generated.push_back(int32_t(id));
    std::string text = tokenizer->decode(generated);
    if (text.size() > printed) {
      outs() << StringRef(text).drop_front(printed);
      printed = text.size();
      outs().flush();
    }
    return true;
  };
  onebit::Sampler sampler(sampling);
  onebit::GenerationStats stats;
  if (!onebit::generate(*gen, promptTokens, maxTokens, sampler, eos, onToken,
                        stats, error))
    return fail(error);
  outs() << "\n";
  outs().flush();
  if (!logitsPath.empty() && !onebit::writeNpy(logitsPath, logitsOut, error))
    return fail(error);
  auto rate = [](int64_t n, double s) { return s > 0 ? double(n) / s : 0.0; };
  if (!noCache)
    errs() << "onebit-generate: KV cache "
           << onebit::dtypeName(
                  model->find(onebit::kPrefillEntry)->inputs[2].dtype)
           << ", " << context << " positions\n";
  int64_t decodeSteps = std::max<int64_t>(stats.generatedTokens - 1, 0);
  if (compileSeconds >= 0)
    errs() << format("onebit-generate: compile %.2f s\n", compileSeconds);
  else if (!cachePath.empty())
    errs() << format("onebit-generate: loaded from the compile cache in %.1f "
                     "ms (no compile): %s\n",
                     loadSeconds * 1e3, cachePath.c_str());
  else
    errs() << format("onebit-generate: artifact loaded in %.1f ms (no "
                     "compile)\n",
                     loadSeconds * 1e3);
  errs() << format("onebit-generate: prompt %lld tokens in %.1f ms, %.2f "
                   "tokens/s\n",
                   (long long)stats.promptTokens, stats.prefillSeconds * 1e3,
                   rate(stats.promptTokens, stats.prefillSeconds))
         << format("onebit-generate: generation %lld tokens (%lld decode "
                   "steps) in %.1f ms, %.2f tokens/s\n",
                   (long long)stats.generatedTokens, (long long)decodeSteps,
                   stats.decodeSeconds * 1e3,
                   rate(decodeSteps, stats.decodeSeconds));
  // GPU models: the weights were copied to the device once, at load.
  const onebit::DeviceConstants dc = model->deviceConstants();
  if (dc.uploads > 0)
    errs() << format("onebit-generate: device constants: %lld uploaded at "
                     "load (%lld bytes), %lld bytes resident\n",
                     (long long)dc.uploads, (long long)dc.uploadBytes,
                     (long long)dc.residentBytes);
  return 0;
}
