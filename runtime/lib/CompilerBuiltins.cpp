//===- CompilerBuiltins.cpp - library calls of generated code
//--------------===//
//
// LLVM lowers some operations of compiled models to calls of compiler
// runtime functions (libgcc / compiler-rt) when the target CPU has no
// instruction for them. Artifacts are linked against this library with
// `-z defs`, and the system's libgcc may predate a function (GCC 12's, on
// Debian 12, has no bf16 conversions), so the ones generated code needs
// are defined here.
//
//   __truncsfbf2: f32 -> bf16 (arith.truncf to bf16). With avx512_bf16 it
//   is one instruction; on AVX2 and plain AVX-512 CPUs it is this call.
//
//===----------------------------------------------------------------------===//

#include <cstdint>
#include <cstring>

/// Round to nearest, ties to even; a NaN stays a NaN (quiet, its sign and
/// top payload bits kept); overflow rounds to infinity. The result is
/// returned as the 16 bits of a bf16 in the low half of xmm0 (the x86-64
/// ABI of __bf16, and of _Float16, which older compilers without __bf16
/// have too).
extern "C" __attribute__((visibility("default"))) _Float16
__truncsfbf2(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  uint16_t out;
  if ((bits & 0x7fffffffu) > 0x7f800000u)
    out = uint16_t((bits >> 16) | 0x0040u);
  else
    out = uint16_t((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
  _Float16 result;
  std::memcpy(&result, &out, sizeof(result));
  return result;
}
