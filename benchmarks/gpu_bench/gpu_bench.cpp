//===- gpu_bench.cpp - the compiler's 1-bit GPU kernels against cuBLAS ----===//
//
// Times, on an NVIDIA GPU, the kernels --onebit-gpu-pipeline generates for
// one onebit.binary_linear (compiled in-process for the device's chip,
// launched with cuLaunchKernel on device-resident signs, g, h and x)
// against cublasGemmEx FP16 with tensor ops on the same layer's
// dequantized weights W = sign(W) ⊙ g ⊙ h, and the decode speed of a
// LLaMA-shaped stack of such layers against the same stack in FP16 through
// cuBLAS. Both results are checked against a host reference before
// anything is timed. docs/gpu.md, "gpu_bench", has the usage.
//
// The compile side links MLIR; the run side (Bench.h) does not, and
// gpu-bench-run uses it on plans this program wrote with --emit-plan
// (docs/gpu.md, "The GPU bundle").
//
// Without a CUDA driver or GPU it prints why and exits 0. Exit 1: bad
// options or a failure (compile, CUDA call); 2: a result was wrong.
//
//===----------------------------------------------------------------------===//

#include "Bench.h"
#include "KernelCompile.h"
#include "LayerFiles.h"
#include "PlanFile.h"

#include "EnvOptions.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"

#include <utility>

using namespace gpubench;
namespace cl = llvm::cl;

namespace {

cl::opt<std::string> shapesOpt(
    "shapes", cl::desc("GEMV/GEMM shapes MxNxK, comma separated"),
    cl::init("1x8192x8192,1x28672x8192,16x8192x8192,512x8192x8192"));
cl::opt<int> repsOpt("reps", cl::desc("timed repetitions per measurement"),
                     cl::init(50));
cl::opt<int> warmupOpt("warmup", cl::desc("untimed runs before timing"),
                       cl::init(5));
cl::opt<std::string> jsonOpt("json", cl::desc("also write the results here"),
                             cl::init(""));
cl::opt<std::string>
    chipOpt("chip", cl::desc("compile for this chip (default: the GPU's, "
                             "sm_80 with --print-plan)"),
            cl::init(""));
cl::opt<std::string> featuresOpt(
    "features", cl::desc("PTX features (default +ptx80; +ptx87 above sm_90)"),
    cl::init(""));
cl::opt<std::string> cublasDirOpt(
    "cublas-dir", cl::desc("where libcublas is looked for first"),
    cl::init("/usr/local/cuda/lib64"));
cl::opt<bool> printPlanOpt(
    "print-plan",
    cl::desc("compile the kernels of --shapes and print their launches; no "
             "GPU needed"),
    cl::init(false));
cl::opt<bool> postNormOpt(
    "post-norm",
    cl::desc("the --shapes layers with the post-norm (LayerNorm, eps 1e-5)"),
    cl::init(false));
cl::opt<std::string> writeLayerOpt(
    "write-layer",
    cl::desc("write each --shapes layer (MLIR, inputs, host reference) to "
             "DIR/MxNxK and stop; no GPU needed"),
    cl::value_desc("DIR"), cl::init(""));
cl::opt<std::string> emitPlanOpt(
    "emit-plan",
    cl::desc("compile the --shapes layers and the decode model's layers for "
             "--chip (default sm_90) and write their launch plans and PTX to "
             "DIR, for gpu-bench-run; no GPU needed"),
    cl::value_desc("DIR"), cl::init(""));
cl::opt<bool> probeOpt(
    "probe-only",
    cl::desc("print the device (or why there is none) and stop"),
    cl::init(false));
cl::opt<int> samplesOpt("samples",
                        cl::desc("outputs checked against the host reference"),
                        cl::init(256));
cl::opt<int> layersOpt("model-layers",
                       cl::desc("decode model: decoder layers (0: no model)"),
                       cl::init(32));
cl::opt<int> dimOpt("model-dim", cl::desc("decode model: hidden size"),
                    cl::init(4096));
cl::opt<int> ffnOpt("model-ffn", cl::desc("decode model: FFN size"),
                    cl::init(11008));
cl::opt<int> vocabOpt("model-vocab", cl::desc("decode model: vocabulary"),
                      cl::init(32000));
cl::opt<int> tokensOpt("tokens", cl::desc("decode model: timed tokens"),
                       cl::init(20));

int failWith(const std::string &message) {
  llvm::errs() << "gpu_bench: error: " << message << "\n";
  return 1;
}

bool parseShapes(const std::string &text, std::vector<LayerShape> &shapes,
                 std::string &error) {
  llvm::SmallVector<llvm::StringRef> items;
  llvm::StringRef(text).split(items, ',', -1, false);
  for (llvm::StringRef item : items) {
    llvm::SmallVector<llvm::StringRef> dims;
    item.trim().split(dims, 'x');
    LayerShape s;
    int64_t v[3];
    bool ok = dims.size() == 3;
    for (int i = 0; ok && i < 3; ++i)
      ok = !dims[i].getAsInteger(10, v[i]) && v[i] > 0 && v[i] <= (1 << 20);
    if (!ok) {
      error = "--shapes: '" + item.str() +
              "' is not MxNxK with positive sizes up to 1048576";
      return false;
    }
    s.m = v[0];
    s.n = v[1];
    s.k = v[2];
    s.name = "l" + std::to_string(shapes.size());
    shapes.push_back(s);
  }
  if (shapes.empty()) {
    error = "--shapes is empty";
    return false;
  }
  return true;
}

/// Compiles the plans in this process, for the GPU's chip (or --chip).
class CompilingSource : public PlanSource {
public:
  CompilingSource(const std::vector<LayerShape> &shapes,
                  const std::vector<LayerShape> &model,
                  onebit::GpuPipelineOptions pipeline)
      : shapes(shapes), model(model), pipeline(std::move(pipeline)) {}
  bool target(int major, int minor, std::string &chip, std::string &features,
              std::string &error) override {
    pipeline.chip = chipOpt.empty() ? "sm_" + std::to_string(major) +
                                          std::to_string(minor)
                                    : chipOpt.getValue();
    pipeline.features = !featuresOpt.empty() ? featuresOpt.getValue()
                        : major * 10 + minor > 90 ? "+ptx87"
                                                  : "+ptx80";
    chip = pipeline.chip;
    features = pipeline.features;
    return true;
  }
  bool plans(std::vector<KernelPlan> &gemm, std::vector<KernelPlan> &kinds,
             std::string &error) override {
    return compileAll(shapes, model, pipeline, gemm, kinds, error);
  }

  static bool compileAll(const std::vector<LayerShape> &shapes,
                         const std::vector<LayerShape> &model,
                         const onebit::GpuPipelineOptions &pipeline,
                         std::vector<KernelPlan> &gemm,
                         std::vector<KernelPlan> &kinds, std::string &error) {
    // The layers measured alone: inputs from a seed of their shape; the
    // decode model's kinds: 4 (q k v o), 2 (gate up), 1 (down) a layer.
    static const int counts[3] = {4, 2, 1};
    for (size_t i = 0; i < shapes.size() + model.size(); ++i) {
      bool alone = i < shapes.size();
      const LayerShape &s = alone ? shapes[i] : model[i - shapes.size()];
      KernelPlan plan;
      if (!compileLayer(s, pipeline, plan, error)) {
        error = (alone ? "" : "decode model: ") + std::to_string(s.m) + "x" +
                std::to_string(s.n) + "x" + std::to_string(s.k) + ": " + error;
        return false;
      }
      plan.seed = alone ? uint64_t(42 + s.n + s.m) : 7 + (i - shapes.size());
      plan.modelCount = alone ? 0 : counts[i - shapes.size()];
      (alone ? gemm : kinds).push_back(std::move(plan));
    }
    return true;
  }

private:
  std::vector<LayerShape> shapes, model;
  onebit::GpuPipelineOptions pipeline;
};

} // namespace

int main(int argc, char **argv) {
  cl::ParseCommandLineOptions(
      argc, argv,
      "gpu_bench: the compiler's 1-bit GPU kernels against cuBLAS FP16\n");
  std::vector<LayerShape> shapes;
  std::string error;
  if (!parseShapes(shapesOpt, shapes, error))
    return failWith(error);
  if (repsOpt < 1 || warmupOpt < 0 || samplesOpt < 1 || tokensOpt < 1 ||
      layersOpt < 0 || dimOpt < 1 || ffnOpt < 1 || vocabOpt < 1)
    return failWith("--reps, --samples, --tokens and the model sizes must be "
                    "positive (--warmup, --model-layers at least 0)");

  if (postNormOpt)
    for (LayerShape &s : shapes)
      s.normEps = 1e-5;
  if (!writeLayerOpt.empty()) {
    for (const LayerShape &s : shapes) {
      std::string dir = writeLayerOpt + "/" + std::to_string(s.m) + "x" +
                        std::to_string(s.n) + "x" + std::to_string(s.k);
      if (std::error_code ec = llvm::sys::fs::create_directories(dir))
        return failWith("cannot create " + dir + ": " + ec.message());
      if (!writeLayer(dir, s, LayerData::random(s, 42 + s.n + s.m), error))
        return failWith(error);
      llvm::outs() << "wrote " << dir << "\n";
    }
    return 0;
  }

  onebit::GpuPipelineOptions pipeline = onebit::env::gpuPipelineOptions();
  pipeline.format = "isa";

  // The decode model's three layer kinds (M = 1, with the post-norm the
  // quantizer gives every layer): dim x dim, ffn x dim, dim x ffn.
  std::vector<LayerShape> modelKinds;
  if (layersOpt > 0) {
    int64_t D = dimOpt, F = ffnOpt;
    int64_t dims[3][2] = {{D, D}, {F, D}, {D, F}};
    for (int i = 0; i < 3; ++i) {
      LayerShape s;
      s.n = dims[i][0];
      s.k = dims[i][1];
      s.normEps = 1e-5;
      s.name = "model" + std::to_string(i);
      modelKinds.push_back(s);
    }
  }

  if (printPlanOpt || !emitPlanOpt.empty()) {
    // No GPU: the chip is --chip's (sm_80 to print, sm_90 to emit: the
    // H100 and H200 of docs/gpu.md).
    pipeline.chip = !chipOpt.empty() ? chipOpt.getValue()
                    : printPlanOpt   ? "sm_80"
                                     : "sm_90";
    int number = chipNumber(pipeline.chip);
    if (number < 50)
      return failWith("--chip: '" + pipeline.chip +
                      "' is not sm_XY (compute capability 5.0 or above)");
    pipeline.features = !featuresOpt.empty() ? featuresOpt.getValue()
                        : number > 90        ? "+ptx87"
                                             : "+ptx80";
    std::vector<KernelPlan> gemm, kinds;
    if (!CompilingSource::compileAll(shapes, modelKinds, pipeline, gemm, kinds,
                                     error))
      return failWith(error);
    if (!emitPlanOpt.empty()) {
      if (!writePlanSet(emitPlanOpt, gemm, kinds, error))
        return failWith(error);
      llvm::outs() << "wrote " << gemm.size() + kinds.size() << " plans for "
                   << pipeline.chip << " " << pipeline.features << " to "
                   << emitPlanOpt << "\n";
      return 0;
    }
    for (const std::vector<KernelPlan> *set : {&gemm, &kinds})
      for (const KernelPlan &plan : *set)
        llvm::outs() << plan.heading() << plan.describe();
    return 0;
  }

  BenchOptions options;
  options.reps = repsOpt;
  options.warmup = warmupOpt;
  options.samples = samplesOpt;
  options.tokens = tokensOpt;
  options.modelLayers = layersOpt;
  options.vocab = vocabOpt;
  options.json = jsonOpt;
  options.cublasDir = cublasDirOpt;
  options.probeOnly = probeOpt;
  CompilingSource source(shapes, modelKinds, pipeline);
  return runBench(options, source);
}
