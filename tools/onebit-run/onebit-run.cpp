//===- onebit-run.cpp - run a model on the host CPU -----------------------===//
//
// onebit-run MODEL [--entry NAME] --input a.npy ... --output out.npy ...
//            [--threads N] [--bench N] [--kernel-mode int16|exact|fast]
// MODEL is .mlir, MLIR bytecode, .onnx or .gguf, compiled in process for the
// host CPU, or a .onebit artifact (onebit-compile), which runs without
// compiling. Runs the entry on NumPy arrays. What it compiles for the CPU
// is kept in the compile cache (ONEBIT_CACHE_DIR, docs/artifacts.md), so the
// next run of the same model starts without compiling. --device=gpu-emulation runs
// the GPU pipeline's kernels as host loops instead.
//
//===----------------------------------------------------------------------===//

#include "onebit/Frontend/ModelLoader.h"
#include "onebit/Runner/CudaHooks.h"
#include "onebit/Runner/Runner.h"
#include "onebit/Runtime/Artifact.h"
#include "onebit/Runtime/CpuKernels.h"
#include "onebit/Support/Npy.h"
#include "onebit/Target/Artifact/CompileCache.h"

#include "EnvOptions.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>

using namespace llvm;

static cl::OptionCategory RunCategory("onebit-run options");

static cl::opt<std::string>
    modelPath(cl::Positional, cl::Required,
              cl::desc("<model.mlir|.mlirbc|.onnx|.gguf|.onebit>"),
              cl::cat(RunCategory));
static cl::opt<std::string> entry("entry",
                                  cl::desc("function to run (default: the "
                                           "module's only public function)"),
                                  cl::cat(RunCategory));
static cl::list<std::string> inputs("input", cl::desc("input .npy, in order"),
                                    cl::cat(RunCategory));
static cl::list<std::string> outputs("output",
                                     cl::desc("output .npy, one per result"),
                                     cl::cat(RunCategory));
static cl::opt<int> bench("bench",
                          cl::desc("run N times after a warm-up and print "
                                   "the median time"),
                          cl::init(0), cl::cat(RunCategory));

static cl::opt<std::string> device("device", cl::desc(onebit::kDeviceHelp),
                                   cl::init("cpu"), cl::cat(RunCategory));

static cl::opt<std::string> kernelMode(
    "kernel-mode",
    cl::desc("1-bit decode kernels (up to 8 activation rows; larger ones "
             "are always exact): int16 (the default: 16-bit lookup tables, "
             "about 3e-5 of a row's largest output off), exact (FP32, the "
             "reference arithmetic) or fast (int8 tables, about 1e-2 off). "
             "Without this option ONEBIT_KERNEL_MODE, else int16"),
    cl::init(""), cl::cat(RunCategory));

static cl::opt<bool> describe(
    "describe",
    cl::desc("print an artifact's target, device and entries (what its "
             "metadata says) without loading its code, and exit"),
    cl::init(false), cl::cat(RunCategory));

static int fail(const std::string &msg) {
  errs() << "onebit-run: error: " << msg << "\n";
  return 1;
}

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  // libLLVM already registers a --threads; ours means the kernels' threads.
  if (cl::Option *o = cl::getRegisteredOptions().lookup("threads"))
    o->setArgStr("llvm-threads");
  static cl::opt<int> threads("threads", cl::desc("kernel threads (0: all)"),
                              cl::init(0), cl::cat(RunCategory));
  cl::HideUnrelatedOptions(RunCategory);
  cl::ParseCommandLineOptions(argc, argv, "onebit model runner\n");
  onebit::env::applyRuntimeEnvironment();
  onebit::Target target;
  std::string error;
  if (!onebit::selectDevice(device, target, error))
    return fail(error);
  // Checked before anything is compiled; the mode is process-wide.
  if (!kernelMode.empty()) {
    if (!onebit::setKernelMode(kernelMode, error))
      return fail("--kernel-mode: " + error);
  }
  if (onebit_runtime_get_kernel_mode() != ONEBIT_KERNEL_EXACT &&
      !onebit::hasFastKernel() && !kernelMode.empty())
    errs() << "onebit-run: note: this CPU has no fast 1-bit kernel (AVX2 or "
              "AVX-512 VNNI); --kernel-mode " << kernelMode
           << " runs the exact kernels\n";
  // An artifact (onebit-compile) runs without compiling; any other model
  // is loaded, imported if need be, and JIT-compiled.
  std::unique_ptr<onebit::Executable> model;
  double compileMs = 0;
  if (describe) {
    if (!onebit::isArtifactPath(modelPath))
      return fail("--describe reads artifacts (.onebit), not " + modelPath);
    auto artifact = onebit::Artifact::inspect(modelPath, error);
    if (!artifact)
      return fail(error);
    outs() << artifact->describe();
    return 0;
  }
  if (onebit::isArtifactPath(modelPath)) {
    // An artifact runs on the device it was compiled for (its metadata
    // says which); --device cuda only confirms a cuda artifact.
    if (target == onebit::Target::GpuEmulation)
      return fail("an artifact runs on the device it was compiled for (cpu "
                  "or cuda); --device " + device + " needs the model itself");
    auto artifact = onebit::Artifact::open(modelPath, error);
    if (!artifact)
      return fail(error);
    if (target == onebit::Target::Cuda && artifact->metadata().target != "cuda")
      return fail(modelPath + " was compiled for the " +
                  artifact->metadata().target +
                  "; --device cuda needs an artifact compiled with "
                  "onebit-compile --device cuda");
    model = std::move(artifact);
  } else {
    mlir::MLIRContext ctx;
    auto module = onebit::loadModel(modelPath, ctx, error);
    if (!module)
      return fail(error);
    onebit::CacheResult cached;
    auto compiled = onebit::compileWithCache(
        std::move(module),
        entry.empty() ? std::vector<std::string>()
                      : std::vector<std::string>{entry},
        target, onebit::env::compileOptions(),
        onebit::env::compileCacheOptions(), cached, error);
    if (!compiled)
      return fail(device == "cuda" ? "--device=cuda: " + error : error);
    compileMs = cached.hit ? 0 : cached.seconds * 1e3;
    model = std::move(compiled);
  }
  // The entry: --entry, else the only one.
  std::string entryName = entry;
  if (entryName.empty()) {
    if (model->entries().size() != 1) {
      std::string names;
      for (const auto &e : model->entries())
        names += (names.empty() ? "" : ", ") + e.name;
      return fail(modelPath + " has " +
                  std::to_string(model->entries().size()) +
                  " entries; pick one with --entry (" + names + ")");
    }
    entryName = model->entry();
  }
  const onebit::Executable::Entry *e = model->find(entryName);
  if (!e)
    return fail(modelPath + " has no entry '" + entryName + "'");
  if (outputs.size() != e->results.size() && !outputs.empty())
    return fail("@" + e->name + " has " + std::to_string(e->results.size()) +
                " results but " + std::to_string(outputs.size()) +
                " --output files were given");
  std::vector<onebit::HostTensor> in(inputs.size()), out;
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!onebit::readNpy(inputs[i], in[i], error))
      return fail(error);
  onebit::setNumThreads(threads);
  if (!model->run(entryName, in, out, error))
    return fail(error);
  if (bench > 0) {
    std::vector<double> ms;
    for (int i = 0; i < bench; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      if (!model->run(entryName, in, out, error))
        return fail(error);
      ms.push_back(std::chrono::duration<double, std::milli>(
                       std::chrono::steady_clock::now() - t0)
                       .count());
    }
    std::sort(ms.begin(), ms.end());
    outs() << "compile_ms: " << format("%.1f", compileMs) << "\n"
           << "median_ms: " << format("%.4f", ms[ms.size() / 2]) << "\n";
    // GPU models: the constants uploaded at load, which must not grow with
    // the number of calls.
    const onebit::DeviceConstants dc = model->deviceConstants();
    if (dc.uploads > 0)
      outs() << "device_constants: " << dc.uploads << "\n"
             << "device_upload_bytes: " << dc.uploadBytes << "\n"
             << "device_resident_bytes: " << dc.residentBytes << "\n";
  }
  for (size_t i = 0; i < outputs.size(); ++i)
    if (!onebit::writeNpy(outputs[i], out[i], error))
      return fail(error);
  return 0;
}
