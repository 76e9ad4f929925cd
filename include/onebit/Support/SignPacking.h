//===- SignPacking.h - the packed 1-bit sign layout -------------*- C++ -*-===//
//
// Packing and unpacking of sign matrices, shared by the compiler, the runtime
// kernels and the model writers. Depends on nothing but the C++ library so the
// runtime can use it without compiler headers.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_SUPPORT_SIGNPACKING_H
#define ONEBIT_SUPPORT_SIGNPACKING_H

#include <cstddef>
#include <cstdint>

namespace onebit {

enum class SignBitOrder : uint8_t { LsbFirst = 0, MsbFirst = 1 };

/// How an N x K matrix of signs is laid out in memory; see
/// `#onebit.packing` in docs/Dialects/OneBitAttrs.md for the contract.
struct SignLayout {
  unsigned wordBits = 32;                      ///< 8, 16, 32 or 64
  SignBitOrder bitOrder = SignBitOrder::LsbFirst;
  unsigned negativeBit = 1;                    ///< bit value meaning -1

  static constexpr SignLayout canonical() { return SignLayout(); }
  bool isValid() const {
    return (wordBits == 8 || wordBits == 16 || wordBits == 32 ||
            wordBits == 64) &&
           negativeBit <= 1;
  }
  bool isCanonical() const {
    return wordBits == 32 && bitOrder == SignBitOrder::LsbFirst &&
           negativeBit == 1;
  }
  int64_t wordsPerRow(int64_t cols) const {
    return (cols + wordBits - 1) / wordBits;
  }
  int64_t bytesPerRow(int64_t cols) const {
    return wordsPerRow(cols) * (wordBits / 8);
  }
  int64_t bytes(int64_t rows, int64_t cols) const {
    return rows * bytesPerRow(cols);
  }
  /// Word index and bit position of column `col` inside its row.
  int64_t wordOf(int64_t col) const { return col / wordBits; }
  unsigned bitOf(int64_t col) const {
    unsigned b = static_cast<unsigned>(col % wordBits);
    return bitOrder == SignBitOrder::LsbFirst ? b : wordBits - 1 - b;
  }
};

/// Packs sign(values) of a row-major rows x cols matrix into `out`, which must
/// hold layout.bytes(rows, cols) bytes of host-endian words. A value is -1
/// when it compares less than zero (so 0 and -0 pack as +1). Returns the
/// number of NaN inputs seen (they pack as +1).
int64_t packSigns(const float *values, int64_t rows, int64_t cols,
                  const SignLayout &layout, void *out);
/// Same for IEEE half (raw uint16 bits) and bfloat16 (raw uint16 bits).
int64_t packSignsF16(const uint16_t *values, int64_t rows, int64_t cols,
                     const SignLayout &layout, void *out);
int64_t packSignsBF16(const uint16_t *values, int64_t rows, int64_t cols,
                      const SignLayout &layout, void *out);
int64_t packSignsF64(const double *values, int64_t rows, int64_t cols,
                     const SignLayout &layout, void *out);

/// Writes -1.0f / +1.0f for every entry of the rows x cols sign matrix.
void unpackSigns(const void *packed, int64_t rows, int64_t cols,
                 const SignLayout &layout, float *out);

/// True when entry (row, col) of the packed matrix is -1.
bool isNegative(const void *packed, int64_t row, int64_t col, int64_t cols,
                const SignLayout &layout);

/// Converts between layouts (e.g. a reference byte-packed checkpoint into the
/// canonical 32-bit layout).
void repackSigns(const void *in, const SignLayout &from, int64_t rows,
                 int64_t cols, const SignLayout &to, void *out);

} // namespace onebit

#endif // ONEBIT_SUPPORT_SIGNPACKING_H
