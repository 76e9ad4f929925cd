//===- Passes.h - onebit conversion passes ----------------------*- C++ -*-===//

#ifndef ONEBIT_CONVERSION_PASSES_H
#define ONEBIT_CONVERSION_PASSES_H

#include "onebit/Conversion/GPUToSCF/GPUToSCF.h"
#include "onebit/Conversion/MatmulToRuntime/MatmulToRuntime.h"
#include "onebit/Conversion/OneBitToGPU/OneBitToGPU.h"
#include "onebit/Conversion/OneBitToRuntime/OneBitToRuntime.h"

namespace onebit {

#define GEN_PASS_REGISTRATION
#include "onebit/Conversion/Passes.h.inc"

} // namespace onebit

#endif // ONEBIT_CONVERSION_PASSES_H
