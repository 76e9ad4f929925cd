//===- onebit-compile.cpp - compile a model into a .onebit artifact -------===//
//
// onebit-compile MODEL -o model.onebit [--target-cpu native|x86-64-v3|...]
//     [--entries prefill,decode] [--linker cc]
//
// MODEL is a .gguf (imported with its KV-cache entries and tokenizer), an
// .onnx, or a .mlir/.mlirbc (imported, quantized or trained). The artifact
// holds native code for each entry, the constants in their packed form
// (mapped on load, not copied), the entries' signatures and the tokenizer;
// onebit-run, onebit-generate and the C API (include/onebit-c/onebit.h)
// load it without compiling. The library does the work
// (onebit/Target/Artifact/ArtifactWriter.h); this file maps flags onto it.
//
//===----------------------------------------------------------------------===//

#include "onebit/Frontend/ModelLoader.h"
#include "onebit/Runtime/Artifact.h"
#include "onebit/Target/Artifact/ArtifactWriter.h"

#include "EnvOptions.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;

static cl::OptionCategory category("onebit-compile options");

static int fail(const std::string &msg) {
  errs() << "onebit-compile: error: " << msg << "\n";
  return 1;
}

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  static cl::opt<std::string> modelPath(
      cl::Positional, cl::Required, cl::desc("<model.gguf|.onnx|.mlir|.mlirbc>"),
      cl::cat(category));
  static cl::opt<std::string> output("o", cl::Required,
                                     cl::desc("the artifact to write (.onebit)"),
                                     cl::value_desc("file"), cl::cat(category));
  static cl::opt<std::string> targetCpu(
      "target-cpu",
      cl::desc("the CPU to compile for: native (default: this machine), "
               "x86-64-v3 (any AVX2 machine), x86-64-v4 (AVX-512), or a CPU "
               "name as in clang's -march (znver4, sapphirerapids, ...)"),
      cl::init("native"), cl::cat(category));
  static cl::opt<std::string> entries(
      "entries",
      cl::desc("comma-separated public functions to compile (default: all; "
               "a GGUF model has main, prefill and decode)"),
      cl::cat(category));
  static cl::opt<std::string> device(
      "device", cl::desc("cpu (the only device artifacts hold so far)"),
      cl::init("cpu"), cl::cat(category));
  static cl::opt<std::string> linker(
      "linker",
      cl::desc("C compiler driver that links the code (default: cc, clang or "
               "gcc on the PATH)"),
      cl::cat(category));
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv,
                              "onebit ahead-of-time compiler: writes a model "
                              "as a .onebit artifact\n");
  if (device != "cpu")
    return fail("--device " + device +
                ": artifacts hold CPU code only so far (the GPU runs through "
                "the JIT: onebit-run --device cuda)");

  onebit::ArtifactOptions options;
  options.targetCpu = targetCpu;
  options.linker = linker;
  options.compile = onebit::env::compileOptions();
  SmallVector<StringRef> names;
  StringRef(entries).split(names, ',', -1, false);
  for (StringRef n : names)
    options.entries.push_back(n.trim().str());

  if (onebit::isArtifactFile(modelPath))
    return fail(modelPath + " is already a compiled artifact; compile the "
                "model it was compiled from");
  static mlir::MLIRContext ctx;
  onebit::ModelLoadOptions load;
  load.gguf.kvCache = true;
  load.onnx.kvCache = onebit::ONNXKVCache::IfWithPast;
  std::string error;
  mlir::OwningOpRef<mlir::ModuleOp> module =
      onebit::loadModel(modelPath, ctx, load, error);
  if (!module)
    return fail(error);
  onebit::ArtifactStats stats;
  if (!onebit::writeArtifact(std::move(module), output, options, stats, error))
    return fail(error);
  errs() << format("onebit-compile: wrote %s: %llu bytes (code %llu, "
                   "constants %llu in %zu arrays, tokenizer %llu, metadata "
                   "%llu), %zu entries for %s, in %.2f s (lowering %.2f s, "
                   "LLVM %.2f s, link %.2f s)\n",
                   output.c_str(), (unsigned long long)stats.fileBytes,
                   (unsigned long long)stats.codeBytes,
                   (unsigned long long)stats.constantBytes, stats.constants,
                   (unsigned long long)stats.tokenizerBytes,
                   (unsigned long long)stats.metadataBytes, stats.entries,
                   stats.targetCpu.c_str(), stats.seconds, stats.lowerSeconds,
                   stats.codegenSeconds, stats.linkSeconds);
  return 0;
}
