//===- KernelBuilders.h - helpers shared by the binary-layer kernels -----===//
//
// Internal to lib/Conversion/OneBitToGPU: constants, widening loads and
// narrowing stores used by the sign-flip kernels (OneBitToGPU.cpp) and the
// tensor-core kernel (MmaKernel.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_LIB_CONVERSION_ONEBITTOGPU_KERNELBUILDERS_H
#define ONEBIT_LIB_CONVERSION_ONEBITTOGPU_KERNELBUILDERS_H

#include "onebit/Conversion/OneBitToGPU/OneBitToGPU.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace onebit::gpukernels {

inline mlir::Value cIdx(mlir::ImplicitLocOpBuilder &b, int64_t v) {
  return mlir::arith::ConstantIndexOp::create(b, v);
}
inline mlir::Value cI32(mlir::ImplicitLocOpBuilder &b, int64_t v) {
  return mlir::arith::ConstantIntOp::create(b, b.getI32Type(), v);
}
inline mlir::Value cF32(mlir::ImplicitLocOpBuilder &b, double v) {
  return mlir::arith::ConstantFloatOp::create(b, b.getF32Type(),
                                              llvm::APFloat(float(v)));
}

/// Loads an element and widens it to f32.
inline mlir::Value loadF32(mlir::ImplicitLocOpBuilder &b, mlir::Value mem,
                           mlir::ValueRange idx) {
  mlir::Value v = mlir::memref::LoadOp::create(b, mem, idx);
  if (!v.getType().isF32())
    v = mlir::arith::ExtFOp::create(b, b.getF32Type(), v);
  return v;
}

/// Narrows an f32 to `mem`'s element type and stores it.
inline void storeF32(mlir::ImplicitLocOpBuilder &b, mlir::Value v,
                     mlir::Value mem, mlir::ValueRange idx) {
  mlir::Type et = mlir::cast<mlir::MemRefType>(mem.getType()).getElementType();
  if (et != v.getType())
    v = mlir::arith::TruncFOp::create(b, et, v);
  mlir::memref::StoreOp::create(b, v, mem, idx);
}

inline mlir::Value ceilDiv(mlir::ImplicitLocOpBuilder &b, mlir::Value a,
                           int64_t d) {
  return mlir::arith::CeilDivUIOp::create(b, a, cIdx(b, d));
}

/// A named kernel launch of (gridX, gridY, gridZ) blocks of `threads`
/// threads (1-D), with a workgroup-memory buffer of each type in
/// `workgroup`; the kernel keeps `name` through outlining. The caller sets
/// the insertion point into the body.
inline mlir::gpu::LaunchOp launchKernel(mlir::ImplicitLocOpBuilder &b,
                                        mlir::Value gridX, mlir::Value gridY,
                                        mlir::Value gridZ, int64_t threads,
                                        mlir::TypeRange workgroup,
                                        llvm::StringRef name) {
  mlir::Value one = cIdx(b, 1);
  auto launch = mlir::gpu::LaunchOp::create(
      b, gridX, gridY, gridZ, cIdx(b, threads), one, one,
      /*dynamicSharedMemorySize=*/nullptr, /*asyncTokenType=*/nullptr,
      /*asyncDependencies=*/mlir::ValueRange{}, workgroup);
  auto symbol = mlir::FlatSymbolRefAttr::get(b.getContext(), name);
  launch.setFunctionAttr(symbol);
  launch.setModuleAttr(symbol);
  return launch;
}

/// The same with a grid z known at compile time.
inline mlir::gpu::LaunchOp
launchKernel(mlir::ImplicitLocOpBuilder &b, mlir::Value gridX,
             mlir::Value gridY, int64_t threads, mlir::TypeRange workgroup,
             llvm::StringRef name, int64_t gridZ = 1) {
  return launchKernel(b, gridX, gridY, cIdx(b, gridZ), threads, workgroup,
                      name);
}

/// Warps per block of the tensor-core kernel (each owns 32 columns).
constexpr int64_t kMmaWarps = 4;

/// Emits the tensor-core GEMM launch (mma.sync m16n8k16, f16 A' = x * g and
/// +-1 f16 signs, f32 accumulation): out[m, n] = h[n] * sum_k S[n, k] g[k]
/// x[m, k] (+ bias[n] when `bias`). `mTiles` (1 or 2) m16 tiles per warp:
/// a block covers 16 * mTiles rows and 128 columns. See MmaKernel.cpp.
void emitMmaGemm(mlir::ImplicitLocOpBuilder &b, int64_t mTiles, mlir::Value x,
                 mlir::Value signs, mlir::Value g, mlir::Value h,
                 mlir::Value bias, mlir::Value out, int64_t K, int64_t N,
                 mlir::Value M, llvm::StringRef kernelName);

} // namespace onebit::gpukernels

#endif // ONEBIT_LIB_CONVERSION_ONEBITTOGPU_KERNELBUILDERS_H
