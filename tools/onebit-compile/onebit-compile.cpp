//===- onebit-compile.cpp - compile a model into a .onebit artifact -------===//
//
// onebit-compile MODEL -o model.onebit [--target-cpu native|x86-64-v3|...]
//     [--entries prefill,decode] [--linker cc]
//     [--device cpu|cuda] [--chip sm_80] [--gpu-features +ptx80]
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
      "device",
      cl::desc("cpu (default), or cuda: host code for --target-cpu and the "
               "kernels as PTX for --chip, run by the CUDA runtime"),
      cl::init("cpu"), cl::cat(category));
  static cl::opt<std::string> chip(
      "chip",
      cl::desc("--device cuda: the oldest GPU to run on (sm_80: A100; sm_90: "
               "H100, H200; newer GPUs JIT-compile the PTX); default sm_80"),
      cl::init("sm_80"), cl::cat(category));
  static cl::opt<std::string> gpuFeatures(
      "gpu-features",
      cl::desc("--device cuda: the PTX ISA (default +ptx80, PTX 8.0: CUDA 12 "
               "drivers)"),
      cl::init("+ptx80"), cl::cat(category));
  static cl::opt<std::string> linker(
      "linker",
      cl::desc("C compiler driver that links the code (default: cc, clang or "
               "gcc on the PATH)"),
      cl::cat(category));
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv,
                              "onebit ahead-of-time compiler: writes a model "
                              "as a .onebit artifact\n");
  onebit::ArtifactOptions options;
  if (device == "cuda")
    options.device = onebit::Target::Cuda;
  else if (device != "cpu")
    return fail("--device " + device + ": artifacts hold code for cpu or "
                "cuda");
  else if (chip.getNumOccurrences() || gpuFeatures.getNumOccurrences())
    return fail("--chip and --gpu-features are for --device cuda");
  options.targetCpu = targetCpu;
  options.linker = linker;
  options.compile = onebit::env::compileOptions();
  options.compile.gpu.chip = chip;
  options.compile.gpu.features = gpuFeatures;
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
  // Entries named without the full forward: it is not built at all.
  load.gguf.fullEntry =
      options.entries.empty() ||
      llvm::is_contained(options.entries, load.gguf.entryName);
  load.onnx.kvCache = onebit::ONNXKVCache::IfWithPast;
  // From bytecode, only what the named entries reach is read.
  load.entries = options.entries;
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
  if (options.device == onebit::Target::Cuda)
    errs() << format("onebit-compile: %zu GPU kernels as PTX for %s (%s)\n",
                     stats.gpuKernels, chip.c_str(), gpuFeatures.c_str());
  return 0;
}
