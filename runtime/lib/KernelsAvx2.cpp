//===- KernelsAvx2.cpp - AVX2 kernels for the 1-bit layer -----------------===//
//
// Compiled with -mavx2 -mfma. A sign flip per 8 columns: broadcast the word,
// test one bit per lane, move it to the float sign bit and xor it into the
// activations. Rows are taken 4 at a time so each activation load serves 4
// rows. Used on CPUs without AVX-512.
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"

#include <immintrin.h>

namespace onebit {
namespace rt {


static inline float hsum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
  return _mm_cvtss_f32(lo);
}

// Sign masks (0x80000000 where the bit is set) for the 8 bits of byte b.
static inline __m256 signMask(uint32_t word, int b, __m256i bitsLo) {
  __m256i v = _mm256_set1_epi32(int(word >> (8 * b)));
  __m256i t = _mm256_cmpeq_epi32(_mm256_and_si256(v, bitsLo), bitsLo);
  return _mm256_castsi256_ps(_mm256_slli_epi32(t, 31));
}

void avx2Rows(const Activations &a, const uint32_t *signs, int64_t n,
              int64_t n0, int64_t n1, float *out) {
  const int64_t kw = a.kp / 32;
  const __m256i bitsLo = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  int64_t r = n0;
  for (; r + 4 <= n1; r += 4) {
    const uint32_t *w0 = signs + r * kw, *w1 = w0 + kw, *w2 = w1 + kw,
                   *w3 = w2 + kw;
    for (int64_t i = 0; i < a.m; ++i) {
      const float *x = a.xg + i * a.kp;
      __m256 c0 = _mm256_setzero_ps(), c1 = _mm256_setzero_ps(),
             c2 = _mm256_setzero_ps(), c3 = _mm256_setzero_ps();
      for (int64_t w = 0; w < kw; ++w) {
        for (int b = 0; b < 4; ++b) {
          __m256 xv = _mm256_loadu_ps(x + w * 32 + 8 * b);
          c0 = _mm256_add_ps(c0, _mm256_xor_ps(xv, signMask(w0[w], b, bitsLo)));
          c1 = _mm256_add_ps(c1, _mm256_xor_ps(xv, signMask(w1[w], b, bitsLo)));
          c2 = _mm256_add_ps(c2, _mm256_xor_ps(xv, signMask(w2[w], b, bitsLo)));
          c3 = _mm256_add_ps(c3, _mm256_xor_ps(xv, signMask(w3[w], b, bitsLo)));
        }
      }
      out[i * n + r] = hsum(c0);
      out[i * n + r + 1] = hsum(c1);
      out[i * n + r + 2] = hsum(c2);
      out[i * n + r + 3] = hsum(c3);
    }
  }
  for (; r < n1; ++r) {
    const uint32_t *w0 = signs + r * kw;
    for (int64_t i = 0; i < a.m; ++i) {
      const float *x = a.xg + i * a.kp;
      __m256 c0 = _mm256_setzero_ps(), c1 = _mm256_setzero_ps();
      for (int64_t w = 0; w < kw; ++w) {
        c0 = _mm256_add_ps(c0, _mm256_xor_ps(_mm256_loadu_ps(x + w * 32),
                                             signMask(w0[w], 0, bitsLo)));
        c1 = _mm256_add_ps(c1, _mm256_xor_ps(_mm256_loadu_ps(x + w * 32 + 8),
                                             signMask(w0[w], 1, bitsLo)));
        c0 = _mm256_add_ps(c0, _mm256_xor_ps(_mm256_loadu_ps(x + w * 32 + 16),
                                             signMask(w0[w], 2, bitsLo)));
        c1 = _mm256_add_ps(c1, _mm256_xor_ps(_mm256_loadu_ps(x + w * 32 + 24),
                                             signMask(w0[w], 3, bitsLo)));
      }
      out[i * n + r] = hsum(_mm256_add_ps(c0, c1));
    }
  }
}

} // namespace rt
} // namespace onebit
