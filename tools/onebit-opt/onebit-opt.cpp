//===- onebit-opt.cpp - mlir-opt with the onebit dialect and passes -------===//

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

#include "onebit/InitAllDialects.h"
#include "onebit/InitAllPasses.h"

#include "EnvOptions.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  // The environment (ONEBIT_DENSE_MATMUL, CUDA_HOME, ...) gives the named
  // pipelines' defaults; options in the pipeline text override them.
  onebit::registerAllPasses(onebit::env::cpuPipelineOptions(),
                            onebit::env::gpuPipelineOptions());

  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  // Needed by passes that translate to LLVM IR (gpu-module-to-binary).
  mlir::registerAllToLLVMIRTranslations(registry);
  onebit::registerAllDialects(registry);

  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "onebit optimizer driver\n", registry));
}
