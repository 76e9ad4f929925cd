//===- InitAllPasses.h - register onebit's passes and pipelines -*- C++ -*-===//

#ifndef ONEBIT_INITALLPASSES_H
#define ONEBIT_INITALLPASSES_H

#include "onebit/Dialect/OneBit/Transforms/Passes.h"

namespace onebit {

/// Registers every onebit pass and named pipeline with the global registry.
inline void registerAllPasses() { mlir::onebit::registerOneBitPasses(); }

} // namespace onebit

#endif // ONEBIT_INITALLPASSES_H
