//===- InitAllPasses.h - register onebit's passes and pipelines -*- C++ -*-===//

#ifndef ONEBIT_INITALLPASSES_H
#define ONEBIT_INITALLPASSES_H

#include "onebit/Conversion/Passes.h"
#include "onebit/Dialect/OneBit/Transforms/Passes.h"
#include "onebit/Pipelines/Pipelines.h"
#include "onebit/Transforms/Passes.h"

namespace onebit {

/// Registers every onebit pass and named pipeline with the global registry;
/// pipeline options not given in a pipeline's text take their values from
/// `cpuDefaults` and `gpuDefaults`.
inline void registerAllPasses(const CpuPipelineOptions &cpuDefaults = {},
                              const GpuPipelineOptions &gpuDefaults = {}) {
  onebit::registerOneBitPasses();
  onebit::registerOneBitTransformsPasses();
  onebit::registerOneBitConversionPasses();
  registerPipelines(cpuDefaults, gpuDefaults);
}

} // namespace onebit

#endif // ONEBIT_INITALLPASSES_H
