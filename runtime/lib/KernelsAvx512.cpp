//===- KernelsAvx512.cpp - AVX-512 kernels for the 1-bit layer ------------===//
//
// Compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma; only called
// after the dispatcher has checked the CPU (CpuKernels.cpp).
//
// Decode (small m): exact FP32 lookup tables. For every group of 4
// activations the 16 signed sums  sum_j (bit j of e ? -v_j : v_j)  form one
// zmm register; a 4-bit nibble of a weight row indexes it. With the rows
// interleaved 16 at a time, one vpermps looks up 16 rows at once, so a group
// of 4 columns x 16 rows costs a shift, a vpermps (table from memory) and an
// add. See docs/kernels.md for the numbers.
//
// Prefill/training (larger m): the signs of a 32-row panel are unpacked to
// +-1.0f for a block of 256 columns and a 12x32 register-blocked FMA
// microkernel runs over packed activations.
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"

#include <immintrin.h>
#include <algorithm>
#include <cstring>

namespace onebit {
namespace rt {

void avx512BuildTables(const Activations &a, float *tables) {
  // sgn_j[e] = bit j of e ? -1 : +1.
  alignas(64) float s[4][16];
  for (int j = 0; j < 4; ++j)
    for (int e = 0; e < 16; ++e)
      s[j][e] = ((e >> j) & 1) ? -1.0f : 1.0f;
  const __m512 s0 = _mm512_load_ps(s[0]), s1 = _mm512_load_ps(s[1]),
               s2 = _mm512_load_ps(s[2]), s3 = _mm512_load_ps(s[3]);
  const int64_t groups = a.kp / 4;
  for (int64_t i = 0; i < a.m; ++i) {
    const float *x = a.xg + i * a.kp;
    float *t = tables + i * groups * 16;
    for (int64_t gi = 0; gi < groups; ++gi) {
      const float *v = x + 4 * gi;
      __m512 lo = _mm512_fmadd_ps(_mm512_set1_ps(v[1]), s1,
                                  _mm512_mul_ps(_mm512_set1_ps(v[0]), s0));
      __m512 hi = _mm512_fmadd_ps(_mm512_set1_ps(v[3]), s3,
                                  _mm512_mul_ps(_mm512_set1_ps(v[2]), s2));
      _mm512_store_ps(t + 16 * gi, _mm512_add_ps(lo, hi));
    }
  }
}

static inline __mmask16 rowMask(int64_t n, int64_t b) {
  int64_t valid = std::min<int64_t>(16, n - 16 * b);
  if (valid <= 0)
    return 0;
  return valid >= 16 ? __mmask16(0xffff) : __mmask16((1u << valid) - 1);
}

void avx512LutBlocks(const Activations &a, const float *tables,
                     const Interleaved16 &w, int64_t b0, int64_t b1,
                     float *out, int64_t ldo) {
  const int64_t kw = w.kw, groups = a.kp / 4;
  for (int64_t b = b0; b < b1; ++b) {
    const uint32_t *wb = w.words + b * kw * 16;
    const __mmask16 mask = rowMask(w.n, b);
    for (int64_t i = 0; i < a.m; ++i) {
      const float *t = tables + i * groups * 16;
      __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps(),
             acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps(),
             acc4 = _mm512_setzero_ps(), acc5 = _mm512_setzero_ps(),
             acc6 = _mm512_setzero_ps(), acc7 = _mm512_setzero_ps();
      for (int64_t wi = 0; wi < kw; ++wi) {
        const __m512i idx = _mm512_load_si512(wb + wi * 16);
        const float *tw = t + wi * 128;
        // vpermps reads only the low 4 bits of each index.
        acc0 = _mm512_add_ps(acc0,
                             _mm512_permutexvar_ps(idx, _mm512_load_ps(tw)));
        acc1 = _mm512_add_ps(
            acc1, _mm512_permutexvar_ps(_mm512_srli_epi32(idx, 4),
                                        _mm512_load_ps(tw + 16)));
        acc2 = _mm512_add_ps(
            acc2, _mm512_permutexvar_ps(_mm512_srli_epi32(idx, 8),
                                        _mm512_load_ps(tw + 32)));
        acc3 = _mm512_add_ps(
            acc3, _mm512_permutexvar_ps(_mm512_srli_epi32(idx, 12),
                                        _mm512_load_ps(tw + 48)));
        acc4 = _mm512_add_ps(
            acc4, _mm512_permutexvar_ps(_mm512_srli_epi32(idx, 16),
                                        _mm512_load_ps(tw + 64)));
        acc5 = _mm512_add_ps(
            acc5, _mm512_permutexvar_ps(_mm512_srli_epi32(idx, 20),
                                        _mm512_load_ps(tw + 80)));
        acc6 = _mm512_add_ps(
            acc6, _mm512_permutexvar_ps(_mm512_srli_epi32(idx, 24),
                                        _mm512_load_ps(tw + 96)));
        acc7 = _mm512_add_ps(
            acc7, _mm512_permutexvar_ps(_mm512_srli_epi32(idx, 28),
                                        _mm512_load_ps(tw + 112)));
      }
      __m512 sum = _mm512_add_ps(
          _mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)),
          _mm512_add_ps(_mm512_add_ps(acc4, acc5), _mm512_add_ps(acc6, acc7)));
      _mm512_mask_storeu_ps(out + i * ldo + 16 * b, mask, sum);
    }
  }
}

//===----------------------------------------------------------------------===//
// GEMM
//===----------------------------------------------------------------------===//

constexpr int64_t kGemmNC = 128; // columns of out per call (4 panels)

int64_t avx512GemmBufBSize() { return kGemmNC * kGemmKC; }

int64_t avx512PackedASize(int64_t m, int64_t kp) {
  int64_t mBlocks = (m + kGemmMR - 1) / kGemmMR;
  int64_t kBlocks = (kp + kGemmKC - 1) / kGemmKC;
  return mBlocks * kBlocks * kGemmKC * kGemmMR;
}

// Layout: block (kb, mb) at ((kb * mBlocks + mb) * KC * MR); inside it
// element (k, r) at k * MR + r; rows past m are zero.
void avx512PackA(const Activations &a, float *packed) {
  const int64_t mBlocks = (a.m + kGemmMR - 1) / kGemmMR;
  const int64_t kBlocks = (a.kp + kGemmKC - 1) / kGemmKC;
  for (int64_t kb = 0; kb < kBlocks; ++kb) {
    const int64_t k0 = kb * kGemmKC, kc = std::min<int64_t>(kGemmKC, a.kp - k0);
    for (int64_t mb = 0; mb < mBlocks; ++mb) {
      float *dst = packed + (kb * mBlocks + mb) * kGemmKC * kGemmMR;
      const int64_t r0 = mb * kGemmMR;
      const int64_t mr = std::min<int64_t>(kGemmMR, a.m - r0);
      for (int64_t r = 0; r < kGemmMR; ++r) {
        if (r < mr) {
          const float *src = a.xg + (r0 + r) * a.kp + k0;
          for (int64_t k = 0; k < kc; ++k)
            dst[k * kGemmMR + r] = src[k];
        } else {
          for (int64_t k = 0; k < kc; ++k)
            dst[k * kGemmMR + r] = 0.0f;
        }
      }
    }
  }
}

// Unpacks rows [r0, r0 + 32) x columns [k0, k0 + kc) of S into
// dst[k * 32 + r] = +-1.0f (rows past n read as +1; their outputs are
// dropped).
static void unpackPanel(const uint32_t *signs, int64_t n, int64_t kw,
                        int64_t r0, int64_t k0, int64_t kc, float *dst) {
  const __m512 plus = _mm512_set1_ps(1.0f), minus = _mm512_set1_ps(-1.0f);
  const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5,
                                        4, 3, 2, 1, 0);
  const __mmask16 m0 = rowMask(n - r0, 0), m1 = rowMask(n - r0 - 16, 0);
  const __m512i vindex = _mm512_mullo_epi32(lane, _mm512_set1_epi32(int(kw)));
  const uint32_t *base0 = signs + r0 * kw;
  const uint32_t *base1 = signs + std::min<int64_t>(r0 + 16, n) * kw;
  for (int64_t w = 0; w < kc / 32; ++w) {
    const int64_t wi = k0 / 32 + w;
    __m512i v0 = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m0,
                                             vindex, base0 + wi, 4);
    __m512i v1 = m1 ? _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m1,
                                                  vindex, base1 + wi, 4)
                    : _mm512_setzero_si512();
    __m512i bit = _mm512_set1_epi32(1);
    float *d = dst + w * 32 * 32;
    for (int j = 0; j < 32; ++j) {
      __mmask16 n0 = _mm512_test_epi32_mask(v0, bit);
      __mmask16 n1 = _mm512_test_epi32_mask(v1, bit);
      _mm512_store_ps(d + j * 32, _mm512_mask_blend_ps(n0, plus, minus));
      _mm512_store_ps(d + j * 32 + 16, _mm512_mask_blend_ps(n1, plus, minus));
      bit = _mm512_slli_epi32(bit, 1);
    }
  }
}

template <int MR>
static void microKernel(int64_t kc, const float *A, const float *B, float *C,
                        int64_t ldc, __mmask16 c0, __mmask16 c1,
                        bool accumulate) {
  __m512 acc[MR][2];
  for (int i = 0; i < MR; ++i)
    acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(B + k * 32);
    const __m512 b1 = _mm512_load_ps(B + k * 32 + 16);
    const float *ak = A + k * kGemmMR;
    for (int i = 0; i < MR; ++i) {
      const __m512 av = _mm512_set1_ps(ak[i]);
      acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
    }
  }
  for (int i = 0; i < MR; ++i) {
    float *c = C + i * ldc;
    if (accumulate) {
      acc[i][0] = _mm512_add_ps(acc[i][0], _mm512_maskz_loadu_ps(c0, c));
      acc[i][1] = _mm512_add_ps(acc[i][1], _mm512_maskz_loadu_ps(c1, c + 16));
    }
    _mm512_mask_storeu_ps(c, c0, acc[i][0]);
    _mm512_mask_storeu_ps(c + 16, c1, acc[i][1]);
  }
}

using MicroKernelFn = void (*)(int64_t, const float *, const float *, float *,
                               int64_t, __mmask16, __mmask16, bool);
static const MicroKernelFn kMicroKernels[kGemmMR + 1] = {
    nullptr,         microKernel<1>,  microKernel<2>, microKernel<3>,
    microKernel<4>,  microKernel<5>,  microKernel<6>, microKernel<7>,
    microKernel<8>,  microKernel<9>,  microKernel<10>, microKernel<11>,
    microKernel<12>};

void avx512GemmRows(const Activations &a, const float *packedA,
                    const uint32_t *signs, int64_t n, int64_t n0, int64_t n1,
                    float *bufB, float *out, int64_t ldo) {
  const int64_t kw = a.kp / 32;
  const int64_t mBlocks = (a.m + kGemmMR - 1) / kGemmMR;
  for (int64_t c0 = n0; c0 < n1; c0 += kGemmNC) {
    const int64_t c1 = std::min(n1, c0 + kGemmNC);
    const int64_t panels = (c1 - c0 + kGemmNR - 1) / kGemmNR;
    for (int64_t k0 = 0, kb = 0; k0 < a.kp; k0 += kGemmKC, ++kb) {
      const int64_t kc = std::min<int64_t>(kGemmKC, a.kp - k0);
      for (int64_t p = 0; p < panels; ++p)
        unpackPanel(signs, n, kw, c0 + p * kGemmNR, k0, kc,
                    bufB + p * kGemmKC * kGemmNR);
      for (int64_t mb = 0; mb < mBlocks; ++mb) {
        const float *A = packedA + (kb * mBlocks + mb) * kGemmKC * kGemmMR;
        const int64_t mr = std::min<int64_t>(kGemmMR, a.m - mb * kGemmMR);
        for (int64_t p = 0; p < panels; ++p) {
          const int64_t col = c0 + p * kGemmNR;
          const __mmask16 m0 = rowMask(c1 - col, 0);
          const __mmask16 m1 = rowMask(c1 - col - 16, 0);
          kMicroKernels[mr](kc, A, bufB + p * kGemmKC * kGemmNR,
                            out + mb * kGemmMR * ldo + col, ldo, m0, m1,
                            k0 > 0);
        }
      }
    }
  }
}

} // namespace rt
} // namespace onebit
