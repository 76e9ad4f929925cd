//===- onebit-translate.cpp - model files to onebit MLIR ------------------===//
//
// `onebit-translate --import-onnx model.onnx -o model.mlir` imports an ONNX
// model (and `--import-gguf` a GGUF llama model) into linalg-on-tensors MLIR
// (text, or bytecode with --emit-bytecode). `--quantize[=OPTIONS]` gives
// the model --onebit-quantize=OPTIONS would, rewriting each layer as the
// import reaches it (onebit/Frontend/QuantizedImport.h).
// `onebit-translate --emit-ptx model-gpu.mlir -o kernels.ptx` writes the PTX
// of every kernel of a module lowered by --onebit-gpu-pipeline (format=isa).
//
//===----------------------------------------------------------------------===//

#include "onebit/Frontend/QuantizedImport.h"
#include "onebit/InitAllDialects.h"
#include "onebit/Target/GGUF/ImportGGUF.h"
#ifdef ONEBIT_HAVE_ONNX
#include "onebit/Target/ONNX/ImportONNX.h"
#endif

#include "mlir/Bytecode/BytecodeWriter.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/InitAllDialects.h"
#include "mlir/Parser/Parser.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace llvm;

static cl::OptionCategory category("onebit-translate options");
static cl::opt<std::string> inputFile(cl::Positional, cl::desc("<input file>"),
                                      cl::Required, cl::cat(category));
static cl::opt<std::string> outputFile("o", cl::desc("Output file"),
                                       cl::value_desc("filename"),
                                       cl::init("-"), cl::cat(category));
static cl::opt<bool> importONNX("import-onnx", cl::desc("Import an ONNX model"),
                                cl::cat(category));
static cl::opt<bool> importGGUF("import-gguf",
                                cl::desc("Import a GGUF (llama) model"),
                                cl::cat(category));
static cl::opt<int> numLayers(
    "num-layers",
    cl::desc("GGUF: import only the first N decoder blocks (-1: all)"),
    cl::init(-1), cl::cat(category));
static cl::opt<bool> kvCache(
    "kv-cache",
    cl::desc("Also emit the KV-cache entries @prefill and @decode, which "
             "share the weights with the full forward (what onebit-generate "
             "runs); an ONNX model must be a decoder exported with past "
             "key/values, whose @main becomes the forward with no past"),
    cl::cat(category));
static cl::opt<onebit::GGUFImportOptions::CacheType> kvCacheType(
    "kv-cache-type",
    cl::desc("GGUF: element type of the KV caches of --kv-cache"),
    cl::values(clEnumValN(onebit::GGUFImportOptions::CacheType::F32, "f32",
                          "exact (default)"),
               clEnumValN(onebit::GGUFImportOptions::CacheType::F16, "f16",
                          "half the memory and traffic; keys and values "
                          "rounded to f16")),
    cl::init(onebit::GGUFImportOptions::CacheType::F32), cl::cat(category));
static cl::opt<bool> f16Weights(
    "f16-weights",
    cl::desc("GGUF: keep the F16 weights of the linear layers in f16, read "
             "through arith.extf (half the memory of the f32 weights; the "
             "matmuls widen them in the kernel)"),
    cl::cat(category));
static cl::opt<std::string>
    entryName("entry-name", cl::desc("Name of the generated function"),
              cl::init("main"), cl::cat(category));
static cl::list<std::string>
    inputShapes("input-shape",
                cl::desc("Fix an input's shape: name=2x128 (repeatable, or "
                         "comma-separated)"),
                cl::cat(category));
static cl::opt<bool>
    emitPTX("emit-ptx",
            cl::desc("Write the PTX of every kernel of a module lowered by "
                     "--onebit-gpu-pipeline (format=isa)"),
            cl::cat(category));
static cl::opt<bool> emitBytecode("emit-bytecode",
                                  cl::desc("Write MLIR bytecode"),
                                  cl::cat(category));
static cl::opt<bool> noShapeInference("no-shape-inference",
                                      cl::desc("Skip ONNX shape inference"),
                                      cl::cat(category));

static cl::opt<std::string> quantize(
    "quantize", cl::ValueOptional,
    cl::desc("Quantize the linear layers as the import reaches them: the "
             "model --onebit-quantize=\"OPTIONS\" gives, without the FP "
             "model in memory (--quantize alone: the pass's defaults; "
             "OPTIONS in its syntax, e.g. \"keep-head=false value-type=f16\")"),
    cl::value_desc("OPTIONS"), cl::cat(category));

/// Writes -o with `write`; the file is kept only when `write` succeeds.
/// Returns the exit code.
static int writeOutput(function_ref<bool(raw_ostream &)> write) {
  std::string err;
  auto out = mlir::openOutputFile(outputFile, &err);
  if (!out) {
    errs() << "onebit-translate: " << err << "\n";
    return 1;
  }
  if (!write(out->os()))
    return 1;
  out->keep();
  return 0;
}

/// --emit-ptx: the PTX text of every gpu.binary object, each after a header
/// line naming its module and target.
static int emitKernelPTX() {
  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  onebit::registerAllDialects(registry);
  mlir::MLIRContext context(registry);
  llvm::SourceMgr sourceMgr;
  mlir::SourceMgrDiagnosticHandler handler(sourceMgr, &context);
  auto module =
      mlir::parseSourceFile<mlir::ModuleOp>(inputFile, sourceMgr, &context);
  if (!module)
    return 1;
  std::string text;
  int kernels = 0, other = 0;
  module->walk([&](mlir::gpu::BinaryOp binary) {
    for (mlir::Attribute a : binary.getObjects()) {
      auto object = llvm::dyn_cast<mlir::gpu::ObjectAttr>(a);
      if (!object)
        continue;
      if (object.getFormat() != mlir::gpu::CompilationTarget::Assembly) {
        ++other;
        continue;
      }
      std::string target;
      llvm::raw_string_ostream ts(target);
      ts << object.getTarget();
      text += "// gpu.binary @" + binary.getSymName().str() + " " + target +
              "\n";
      text += object.getObject().getValue().str();
      if (!text.empty() && text.back() != '\n')
        text += "\n";
      ++kernels;
    }
  });
  if (!kernels) {
    errs() << "onebit-translate: --emit-ptx: " << inputFile
           << (other ? " has gpu.binary objects, but none in PTX: lower with "
                       "--onebit-gpu-pipeline=\"format=isa\"\n"
                     : " has no gpu.binary ops: lower it with "
                       "onebit-opt --onebit-gpu-pipeline first\n");
    return 1;
  }
  return writeOutput([&](raw_ostream &os) {
    os << text;
    return true;
  });
}

int main(int argc, char **argv) {
  InitLLVM y(argc, argv);
  mlir::registerAsmPrinterCLOptions();
  mlir::registerMLIRContextCLOptions();
  // libLLVM registers hundreds of backend options (-x86-..., -amdgpu-...) in
  // the general category; --help shows ours and MLIR's printer and context
  // options (all named mlir-*). Hidden options still parse.
  static cl::OptionCategory mlirCategory("MLIR printing and context options");
  for (auto &entry : cl::getRegisteredOptions())
    if (entry.first.starts_with("mlir-"))
      entry.second->addCategory(mlirCategory);
  cl::HideUnrelatedOptions({&category, &mlirCategory});
  if (cl::Option *o = cl::getRegisteredOptions().lookup("mlir-print-debuginfo"))
    o->setDescription("Print debug info (locations: layer and weight names) "
                      "in MLIR output; on by default, =false leaves it out");
  cl::ParseCommandLineOptions(argc, argv,
                              "onebit model translator (ONNX importer)\n");
  if (int(importONNX) + int(importGGUF) + int(emitPTX) != 1) {
    errs() << "onebit-translate: choose one translation (--import-onnx, "
              "--import-gguf or --emit-ptx)\n";
    return 1;
  }
  if (emitPTX)
    return emitKernelPTX();

  onebit::QuantizeConfig qconfig;
  bool qstats = false;
  const bool quantizing = quantize.getNumOccurrences() > 0;
  if (quantizing) {
    std::string err = onebit::parseQuantizeOptions(quantize, qconfig, qstats);
    if (!err.empty()) {
      errs() << "onebit-translate: --quantize: " << err << "\n";
      return 1;
    }
  }
  onebit::QuantizeReport qreport;

  mlir::MLIRContext context;
  llvm::SourceMgr sourceMgr;
  mlir::SourceMgrDiagnosticHandler handler(sourceMgr, &context);
  mlir::OwningOpRef<mlir::ModuleOp> module;
  if (importGGUF) {
    onebit::GGUFImportOptions options;
    options.entryName = entryName;
    options.numLayers = numLayers;
    options.kvCache = kvCache;
    options.kvCacheType = kvCacheType;
    options.f16Weights = f16Weights;
    for (const std::string &spec : inputShapes) {
      // input_ids=BxS: the token-id shape (the only input of a GGUF model).
      StringRef s(spec), name, dims, bs, ss;
      std::tie(name, dims) = s.split('=');
      std::tie(bs, ss) = dims.split('x');
      if (name != "input_ids" || bs.getAsInteger(10, options.batch) ||
          ss.getAsInteger(10, options.seqLen) || options.batch <= 0 ||
          options.seqLen <= 0) {
        errs() << "onebit-translate: --input-shape: a GGUF model has one "
                  "input, give input_ids=BATCHxSEQ (got '"
               << spec << "')\n";
        return 1;
      }
    }
    module = quantizing ? onebit::importQuantizedGGUF(inputFile, context,
                                                      options, qconfig,
                                                      &qreport)
                        : onebit::importGGUFFile(inputFile, context, options);
  } else {
#ifdef ONEBIT_HAVE_ONNX
    if (f16Weights) {
      errs() << "onebit-translate: --f16-weights applies to GGUF models\n";
      return 1;
    }
    if (kvCacheType.getNumOccurrences() &&
        kvCacheType != onebit::GGUFImportOptions::CacheType::F32) {
      errs() << "onebit-translate: --kv-cache-type applies to GGUF models; "
                "an ONNX model's caches have the type of its past "
                "key/value inputs\n";
      return 1;
    }
    onebit::ONNXImportOptions options;
    options.entryName = entryName;
    options.inferShapes = !noShapeInference;
    if (kvCache)
      options.kvCache = onebit::ONNXKVCache::Required;
    for (const std::string &spec : inputShapes) {
      std::string err = onebit::parseInputShapes(spec, options);
      if (!err.empty()) {
        errs() << "onebit-translate: --input-shape: " << err << "\n";
        return 1;
      }
    }
    module = quantizing ? onebit::importQuantizedONNX(inputFile, context,
                                                      options, qconfig,
                                                      &qreport)
                        : onebit::importONNXFile(inputFile, context, options);
#else
    errs() << "onebit-translate: built without libonnx; --import-onnx is "
              "unavailable\n";
    return 1;
#endif
  }
  if (!module)
    return 1;
  if (failed(mlir::verify(*module)))
    return 1;
  if (quantizing && qstats)
    onebit::printQuantizeReport(qreport, qconfig.init, errs());

  return writeOutput([&](raw_ostream &os) {
    if (emitBytecode)
      return succeeded(mlir::writeBytecodeToFile(*module, os));
    // Layer and weight names live in locations (the IR contract, see
    // docs/design.md), so text keeps them unless asked not to.
    mlir::OpPrintingFlags flags;
    cl::Option *debugInfo =
        cl::getRegisteredOptions().lookup("mlir-print-debuginfo");
    if (!debugInfo || !debugInfo->getNumOccurrences())
      flags.enableDebugInfo(/*enable=*/true, /*prettyForm=*/false);
    module->print(os, flags);
    os << "\n";
    return true;
  });
}
