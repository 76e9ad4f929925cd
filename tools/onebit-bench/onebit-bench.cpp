//===- onebit-bench.cpp - prompt and generation speed, llama-bench style --===//
//
// onebit-bench MODEL... [-p 512] [-n 128] [-r 5] [-t 1,2] [-d 0,256]
//
// For every model, thread count and depth D: pp<P> runs one @prefill of P
// tokens from position D; tg<N> runs N @decode steps one token at a time
// from position D (each test once to warm up, then -r times; the D tokens of
// context are prefilled first, untimed, and the test is named "@ dD"). Prints llama-bench's table:
// model, size, params, threads, test, tokens/s as mean ± sd; and each
// model's JIT compile time, which a compiled artifact would remove. Models
// are .gguf (imported with their KV-cache entries) or .mlir/.mlirbc that
// have them. Token ids are random (fixed seed), as llama-bench's.
//
//===----------------------------------------------------------------------===//

#include "onebit/Frontend/ModelLoader.h"

#include "CacheTypeFlag.h"
#include "onebit/Runner/ModelSize.h"
#include "onebit/Runner/Runner.h"
#include "onebit/Runtime/Artifact.h"
#include "onebit/Runtime/Generator.h"

#include "EnvOptions.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cmath>
#include <algorithm>
#include <random>

using namespace llvm;

static cl::OptionCategory category("onebit-bench options");

static int fail(const std::string &msg) {
  errs() << "onebit-bench: error: " << msg << "\n";
  return 1;
}

static std::string humanBytes(double b) {
  if (b >= 1024.0 * 1024 * 1024)
    return formatv("{0:F2} GiB", b / (1024.0 * 1024 * 1024)).str();
  return formatv("{0:F2} MiB", b / (1024.0 * 1024)).str();
}

static std::string humanCount(double n) {
  if (n >= 1e9)
    return formatv("{0:F2} B", n / 1e9).str();
  return formatv("{0:F2} M", n / 1e6).str();
}

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  if (cl::Option *o = cl::getRegisteredOptions().lookup("threads"))
    o->setArgStr("llvm-threads");
  static cl::list<std::string> models(cl::Positional, cl::OneOrMore,
                                      cl::desc("<model.gguf|.mlir|.mlirbc|.onebit>..."),
                                      cl::cat(category));
  static cl::opt<int64_t> promptTokens(
      "p", cl::desc("prompt tokens of the pp test (0: no pp test; 512)"),
      cl::init(512), cl::cat(category));
  static cl::opt<int64_t> genTokens(
      "n", cl::desc("generated tokens of the tg test (0: no tg test; 128)"),
      cl::init(128), cl::cat(category));
  static cl::opt<int> reps("r", cl::desc("repetitions of each test (5)"),
                           cl::init(5), cl::cat(category));
  static cl::opt<std::string> threadList(
      "t", cl::desc("thread counts, comma-separated (default: all cores)"),
      cl::init(""), cl::cat(category));
  static onebit::CacheTypeFlag cacheType(category);
  static cl::opt<std::string> depthList(
      "d", cl::desc("context depths: tokens already in the cache when a "
                    "test starts, comma-separated (0)"),
      cl::init("0"), cl::cat(category));
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv,
                              "onebit prompt/generation benchmark\n");
  onebit::env::applyRuntimeEnvironment();
  if (promptTokens < 0 || genTokens < 0 || (!promptTokens && !genTokens))
    return fail("-p and -n must be >= 0, and one of them positive");
  if (reps < 1)
    return fail("-r must be at least 1");
  std::vector<int64_t> depths;
  {
    SmallVector<StringRef> parts;
    StringRef(depthList).split(parts, ',', -1, false);
    for (StringRef p : parts) {
      int64_t d;
      if (p.trim().getAsInteger(10, d) || d < 0)
        return fail("-d: '" + p.trim().str() + "' is not a depth");
      depths.push_back(d);
    }
    if (depths.empty())
      depths.push_back(0);
  }
  const int64_t maxDepth = *std::max_element(depths.begin(), depths.end());
  std::vector<int> threads;
  if (threadList.empty()) {
    threads.push_back(0);
  } else {
    SmallVector<StringRef> parts;
    StringRef(threadList).split(parts, ',', -1, false);
    for (StringRef p : parts) {
      int t;
      if (p.trim().getAsInteger(10, t) || t < 1)
        return fail("-t: '" + p.trim().str() + "' is not a thread count");
      threads.push_back(t);
    }
  }

  std::string cacheError;
  auto kvCacheType = cacheType.resolve(models, cacheError);
  if (!kvCacheType)
    return fail(cacheError);
  outs() << "| model | size | params | threads | test | t/s |\n"
         << "| --- | ---: | ---: | ---: | ---: | ---: |\n";
  std::vector<std::string> notes;
  for (const std::string &path : models) {
    std::string error;
    double bytes = 0, params = 0;
    std::unique_ptr<onebit::Executable> model;
    if (onebit::isArtifactPath(path)) {
      // Compiled ahead of time: nothing to compile; the size is the
      // constants' as stored, the parameter count onebit-compile's.
      auto t0 = std::chrono::steady_clock::now();
      auto artifact = onebit::Artifact::open(path, error);
      if (!artifact)
        return fail(error);
      if (!onebit::hasCacheEntries(*artifact))
        return fail(path + " has no KV-cache entries (@prefill and @decode): "
                    "compile it from a model that has them");
      bytes = double(artifact->constantBytes());
      params = double(artifact->parameters());
      notes.push_back(formatv(
          "{0}: artifact loaded in {1:F1} ms, no compile", path,
          std::chrono::duration<double, std::milli>(
              std::chrono::steady_clock::now() - t0)
              .count()));
      model = std::move(artifact);
    } else {
      mlir::MLIRContext ctx;
      onebit::ModelLoadOptions load;
      load.gguf.kvCache = true;
      load.gguf.kvCacheType = *kvCacheType;
      load.onnx.kvCache = onebit::ONNXKVCache::Required;
      mlir::OwningOpRef<mlir::ModuleOp> module =
          onebit::loadModel(path, ctx, load, error);
      if (!module)
        return fail(error);
      if (!module->lookupSymbol(onebit::kPrefillEntry) ||
          !module->lookupSymbol(onebit::kDecodeEntry))
        return fail(path + " has no KV-cache entries (@prefill and @decode): "
                    "import it with onebit-translate --kv-cache (a GGUF "
                    "model, or an ONNX decoder exported with past "
                    "key/values)");
      onebit::ModelSize size = onebit::measureModel(*module);
      bytes = double(size.bytes);
      params = double(size.parameters);
      auto compiled = onebit::CompiledModel::compile(
          std::move(module),
          std::vector<std::string>{onebit::kPrefillEntry,
                                   onebit::kDecodeEntry},
          error, onebit::Target::Cpu, onebit::env::compileOptions());
      if (!compiled)
        return fail(path + ": " + error);
      notes.push_back(formatv("{0}: JIT compile {1:F2} s", path,
                              compiled->compileMillis() / 1000.0));
      model = std::move(compiled);
    }
    auto gen = onebit::Generator::create(
        *model, maxDepth + std::max<int64_t>(promptTokens, genTokens), error);
    if (!gen)
      return fail(path + ": " + error);
    // What the compiled entries hold, not what was asked for.
    notes.push_back(
        formatv("{0}: KV cache {1}", path,
                onebit::dtypeName(
                    model->find(onebit::kPrefillEntry)->inputs[2].dtype)));
    std::mt19937_64 rng(1234);
    std::uniform_int_distribution<int64_t> token(0, gen->vocab() - 1);
    std::vector<int64_t> prompt(static_cast<size_t>(promptTokens.getValue()));
    for (int64_t &t : prompt)
      t = token(rng);
    std::vector<int64_t> context(static_cast<size_t>(maxDepth));
    for (int64_t &t : context)
      t = token(rng);
    std::string name = sys::path::filename(path).str();

    for (int t : threads) {
      onebit::setNumThreads(t);
      std::string tcol = t ? std::to_string(t) : "all";
      // One run of a test: its tokens per second.
      int64_t depth = 0;
      auto runTest = [&](bool pp, double &rate) -> bool {
        std::vector<float> logits;
        gen->reset();
        if (depth > 0 &&
            !gen->prefill(std::vector<int64_t>(context.begin(),
                                               context.begin() + depth),
                          logits, error))
          return false;
        auto t0 = std::chrono::steady_clock::now();
        if (pp) {
          if (!gen->prefill(prompt, logits, error))
            return false;
        } else {
          for (int64_t i = 0; i < genTokens; ++i)
            if (!gen->decode(token(rng), logits, error))
              return false;
        }
        double s = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - t0)
                       .count();
        rate = double(pp ? promptTokens : genTokens) / s;
        return true;
      };
      for (int64_t d : depths)
      for (bool pp : {true, false}) {
        if ((pp && !promptTokens) || (!pp && !genTokens))
          continue;
        depth = d;
        double rate;
        if (!runTest(pp, rate)) // warm-up
          return fail(path + ": " + error);
        std::vector<double> rates;
        for (int r = 0; r < reps; ++r) {
          if (!runTest(pp, rate))
            return fail(path + ": " + error);
          rates.push_back(rate);
        }
        double mean = 0, var = 0;
        for (double x : rates)
          mean += x / rates.size();
        for (double x : rates)
          var += (x - mean) * (x - mean);
        double sd = rates.size() > 1 ? std::sqrt(var / (rates.size() - 1)) : 0;
        std::string test = pp ? "pp" + std::to_string(promptTokens)
                              : "tg" + std::to_string(genTokens);
        if (d > 0)
          test += " @ d" + std::to_string(d);
        outs() << "| " << name << " | " << humanBytes(bytes) << " | "
               << humanCount(params) << " | " << tcol << " | " << test
               << " | " << formatv("{0:F2} ± {1:F2}", mean, sd) << " |\n";
        outs().flush();
      }
    }
  }
  outs() << "\n";
  for (const std::string &n : notes)
    outs() << n << "\n";
  return 0;
}
