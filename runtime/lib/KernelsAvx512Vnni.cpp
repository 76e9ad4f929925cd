//===- KernelsAvx512Vnni.cpp - approximate int8 lookup-table decode -------===//
//
// FAST_APPROX decode kernel (AVX-512 VBMI + VNNI). The 16 signed sums of
// every group of 4 activations are quantized to int8 with one scale per
// activation row (127 / the largest |sum|). One 64-byte register holds the
// tables of 4 groups; byte b of a weight word (columns 8b..8b+7) selects the
// table of group 2b with its low nibble and 2b+1 with its high nibble, so
// vpternlogd(idx & 0x0f | b << 4) + vpermb looks up 64 (row, group) pairs and
// vpdpbusd (with a vector of ones) adds the 4 groups of each row into an int32
// lane. 4 instructions for 256 weights, against 24 for the exact kernel.
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"

#include <immintrin.h>
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace onebit {
namespace rt {

// The 16 signed sums of group gi of row x, in one register: entry e is
// sum_j (bit j of e ? -v_j : v_j).
static inline __m512 groupTable(const float *v, __m512 s0, __m512 s1,
                                __m512 s2, __m512 s3) {
  __m512 lo = _mm512_fmadd_ps(_mm512_set1_ps(v[1]), s1,
                              _mm512_mul_ps(_mm512_set1_ps(v[0]), s0));
  __m512 hi = _mm512_fmadd_ps(_mm512_set1_ps(v[3]), s3,
                              _mm512_mul_ps(_mm512_set1_ps(v[2]), s2));
  return _mm512_add_ps(lo, hi);
}

void avx512BuildTablesI8(const Activations &a, int8_t *tables,
                         float *scales) {
  alignas(64) float s[4][16];
  for (int j = 0; j < 4; ++j)
    for (int e = 0; e < 16; ++e)
      s[j][e] = ((e >> j) & 1) ? -1.0f : 1.0f;
  const __m512 s0 = _mm512_load_ps(s[0]), s1 = _mm512_load_ps(s[1]),
               s2 = _mm512_load_ps(s[2]), s3 = _mm512_load_ps(s[3]);
  const int64_t groups = a.kp / 4;
  for (int64_t i = 0; i < a.m; ++i) {
    const float *x = a.xg + i * a.kp;
    // The largest |entry| of a group is sum_j |v_j| (entry 0 or its
    // mirror); computing it from the table itself keeps the two passes
    // bit-identical.
    // `bad`: some entry is NaN or Inf (t - t is NaN exactly then).
    __m512 vmax = _mm512_setzero_ps();
    __mmask16 bad = 0;
    for (int64_t gi = 0; gi < groups; ++gi) {
      const __m512 t = groupTable(x + 4 * gi, s0, s1, s2, s3);
      vmax = _mm512_max_ps(vmax, _mm512_abs_ps(t));
      const __m512 d = _mm512_sub_ps(t, t);
      bad |= _mm512_cmp_ps_mask(d, d, _CMP_UNORD_Q);
    }
    const float maxSum = _mm512_reduce_max_ps(vmax);
    const bool finite = bad == 0;
    const float q = finite && maxSum > 0.0f ? 127.0f / maxSum : 0.0f;
    // A non-finite activation makes the output row NaN, as in the exact
    // kernels, instead of being quantized away.
    scales[i] = !finite ? std::numeric_limits<float>::quiet_NaN()
                        : maxSum > 0.0f ? maxSum / 127.0f : 0.0f;
    const __m512 vq = _mm512_set1_ps(q);
    int8_t *t = tables + i * groups * 16;
    // Group gi = 8 * wi + 2 * b + step lives at wi * 128 + step * 64 + 16 * b
    // (see avx512LutBlocksI8). Rounding is to nearest even (MXCSR default),
    // |s * q| <= 127 up to rounding and vpmovsdb saturates.
    for (int64_t gi = 0; gi < groups; ++gi) {
      const int64_t wi = gi >> 3, r = gi & 7;
      __m512i v = _mm512_cvtps_epi32(
          _mm512_mul_ps(groupTable(x + 4 * gi, s0, s1, s2, s3), vq));
      _mm_store_si128(reinterpret_cast<__m128i *>(t + wi * 128 + (r & 1) * 64 +
                                                  (r >> 1) * 16),
                      _mm512_cvtsepi32_epi8(v));
    }
  }
}

void avx512LutBlocksI8(const Activations &a, const int8_t *tables,
                       const float *scales, const Interleaved16 &w,
                       int64_t b0, int64_t b1, float *out, int64_t ldo) {
  const int64_t kw = w.kw, groups = a.kp / 4;
  const __m512i nib = _mm512_set1_epi32(0x0f0f0f0f);
  const __m512i sel = _mm512_set1_epi32(0x30201000);
  const __m512i ones = _mm512_set1_epi8(1);
  for (int64_t b = b0; b < b1; ++b) {
    const uint32_t *wb = w.words + b * kw * 16;
    const int64_t valid = std::min<int64_t>(16, w.n - 16 * b);
    const __mmask16 mask =
        valid >= 16 ? __mmask16(0xffff) : __mmask16((1u << valid) - 1);
    for (int64_t i = 0; i < a.m; ++i) {
      const int8_t *t = tables + i * groups * 16;
      __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512(),
              acc2 = _mm512_setzero_si512(), acc3 = _mm512_setzero_si512();
      int64_t wi = 0;
      for (; wi + 2 <= kw; wi += 2) {
        const __m512i w0 = _mm512_load_si512(wb + wi * 16);
        const __m512i w1 = _mm512_load_si512(wb + wi * 16 + 16);
        // (a & b) | c
        __m512i i0 = _mm512_ternarylogic_epi32(w0, nib, sel, 0xea);
        __m512i i1 = _mm512_ternarylogic_epi32(_mm512_srli_epi32(w0, 4), nib,
                                               sel, 0xea);
        __m512i i2 = _mm512_ternarylogic_epi32(w1, nib, sel, 0xea);
        __m512i i3 = _mm512_ternarylogic_epi32(_mm512_srli_epi32(w1, 4), nib,
                                               sel, 0xea);
        const int8_t *tw = t + wi * 128;
        acc0 = _mm512_dpbusd_epi32(
            acc0, ones, _mm512_permutexvar_epi8(i0, _mm512_load_si512(tw)));
        acc1 = _mm512_dpbusd_epi32(
            acc1, ones,
            _mm512_permutexvar_epi8(i1, _mm512_load_si512(tw + 64)));
        acc2 = _mm512_dpbusd_epi32(
            acc2, ones,
            _mm512_permutexvar_epi8(i2, _mm512_load_si512(tw + 128)));
        acc3 = _mm512_dpbusd_epi32(
            acc3, ones,
            _mm512_permutexvar_epi8(i3, _mm512_load_si512(tw + 192)));
      }
      for (; wi < kw; ++wi) {
        const __m512i w0 = _mm512_load_si512(wb + wi * 16);
        __m512i i0 = _mm512_ternarylogic_epi32(w0, nib, sel, 0xea);
        __m512i i1 = _mm512_ternarylogic_epi32(_mm512_srli_epi32(w0, 4), nib,
                                               sel, 0xea);
        const int8_t *tw = t + wi * 128;
        acc0 = _mm512_dpbusd_epi32(
            acc0, ones, _mm512_permutexvar_epi8(i0, _mm512_load_si512(tw)));
        acc1 = _mm512_dpbusd_epi32(
            acc1, ones,
            _mm512_permutexvar_epi8(i1, _mm512_load_si512(tw + 64)));
      }
      __m512i sum = _mm512_add_epi32(_mm512_add_epi32(acc0, acc1),
                                     _mm512_add_epi32(acc2, acc3));
      __m512 r = _mm512_mul_ps(_mm512_cvtepi32_ps(sum),
                               _mm512_set1_ps(scales[i]));
      _mm512_mask_storeu_ps(out + i * ldo + 16 * b, mask, r);
    }
  }
}


// ---- INT16 mode: two int8 digits per table entry ---------------------------

void avx512BuildTablesI16(const Activations &a, int8_t *tables,
                          float *scales) {
  alignas(64) float s[4][16];
  for (int j = 0; j < 4; ++j)
    for (int e = 0; e < 16; ++e)
      s[j][e] = ((e >> j) & 1) ? -1.0f : 1.0f;
  const __m512 s0 = _mm512_load_ps(s[0]), s1 = _mm512_load_ps(s[1]),
               s2 = _mm512_load_ps(s[2]), s3 = _mm512_load_ps(s[3]);
  const int64_t groups = a.kp / 4, kw = a.kp / 32;
  const __m512i half = _mm512_set1_epi32(128);
  for (int64_t i = 0; i < a.m; ++i) {
    const float *x = a.xg + i * a.kp;
    // The largest |entry| of a group is sum_j |v_j|: one pass over the
    // activations, 4 groups a vector (the entries computed below may exceed
    // it by a rounding error, which moves v by at most 1 of the 127 units
    // the digits leave spare).
    __m512 vmax = _mm512_setzero_ps();
    __mmask16 bad = 0;
    for (int64_t c = 0; c < a.kp; c += 16) {
      __m512 v = _mm512_abs_ps(_mm512_loadu_ps(x + c));
      v = _mm512_add_ps(v, _mm512_permute_ps(v, 0xB1));
      v = _mm512_add_ps(v, _mm512_permute_ps(v, 0x4E));
      vmax = _mm512_max_ps(vmax, v);
      // NaN or Inf in the group: v - v is NaN exactly then.
      const __m512 d = _mm512_sub_ps(v, v);
      bad |= _mm512_cmp_ps_mask(d, d, _CMP_UNORD_Q);
    }
    const float maxSum = _mm512_reduce_max_ps(vmax);
    const bool finite = bad == 0;
    const float q = finite && maxSum > 0.0f ? 32512.0f / maxSum : 0.0f;
    // A non-finite activation makes the output row NaN, as in the exact
    // kernels, instead of being quantized away.
    scales[i] = !finite ? std::numeric_limits<float>::quiet_NaN()
                        : maxSum > 0.0f ? maxSum / 32512.0f : 0.0f;
    const __m512 vq = _mm512_set1_ps(q);
    int8_t *t = tables + i * kw * kI16TableBytesPerWord;
    // Group gi = 8 * wi + 2 * b + step: its high digits at wi * 256 + step *
    // 64 + 16 * b, its low digits 128 bytes further. v in [-32512, 32512]
    // (round to nearest even), hi = floor((v + 128) / 256) in [-127, 127],
    // lo = v - 256 * hi in [-128, 127]: v = 256 * hi + lo exactly.
    for (int64_t gi = 0; gi < groups; ++gi) {
      const int64_t wi = gi >> 3, r = gi & 7;
      const __m512i v = _mm512_cvtps_epi32(
          _mm512_mul_ps(groupTable(x + 4 * gi, s0, s1, s2, s3), vq));
      const __m512i hi = _mm512_srai_epi32(_mm512_add_epi32(v, half), 8);
      const __m512i lo = _mm512_sub_epi32(v, _mm512_slli_epi32(hi, 8));
      int8_t *d = t + wi * kI16TableBytesPerWord + (r & 1) * 64 + (r >> 1) * 16;
      _mm_store_si128(reinterpret_cast<__m128i *>(d),
                      _mm512_cvtsepi32_epi8(hi));
      _mm_store_si128(reinterpret_cast<__m128i *>(d + 128),
                      _mm512_cvtsepi32_epi8(lo));
    }
  }
}

// MT activation rows of NB (1 or 2) 16-row blocks over the cw words of a
// chunk: the index vectors of a word are made once per block and used for
// every row, each table vector is loaded once and used for every block (half
// the table loads at NB = 2, which bound the one-row case). A accumulators
// per (row, block): 4 (one per table vector) while they fit, else 2 (high
// and low digits; enough rows and blocks for independent chains). Adds
// 256 * sum(hi) + sum(lo) of row r of block nb to part[nb][r * 16 ..].
template <int MT, int NB>
static inline void i16Tile(const int8_t *const *tab, const uint8_t *wp,
                           int64_t blockBytes, int64_t cw,
                           int32_t *const *part) {
  constexpr int A = MT * NB <= 2 ? 4 : 2;
  const __m512i nib = _mm512_set1_epi32(0x0f0f0f0f);
  const __m512i sel = _mm512_set1_epi32(0x30201000);
  const __m512i ones = _mm512_set1_epi8(1);
  __m512i acc[MT][NB][A];
  for (int r = 0; r < MT; ++r)
    for (int q = 0; q < NB; ++q)
      for (int d = 0; d < A; ++d)
        acc[r][q][d] = _mm512_setzero_si512();
  for (int64_t j = 0; j < cw; ++j) {
    __m512i i0[NB], i1[NB];
    for (int q = 0; q < NB; ++q) {
      const uint8_t *p = wp + q * blockBytes + j * 64;
      const __m512i w = _mm512_loadu_si512(p);
      _mm_prefetch(reinterpret_cast<const char *>(p + kI16Prefetch),
                   _MM_HINT_T1);
      i0[q] = _mm512_ternarylogic_epi32(w, nib, sel, 0xea);
      i1[q] =
          _mm512_ternarylogic_epi32(_mm512_srli_epi32(w, 4), nib, sel, 0xea);
    }
    for (int r = 0; r < MT; ++r) {
      const int8_t *t = tab[r] + j * kI16TableBytesPerWord;
      const __m512i t0 = _mm512_load_si512(t), t1 = _mm512_load_si512(t + 64),
                    t2 = _mm512_load_si512(t + 128),
                    t3 = _mm512_load_si512(t + 192);
      for (int q = 0; q < NB; ++q) {
        __m512i *a = acc[r][q];
        a[0] = _mm512_dpbusd_epi32(a[0], ones,
                                   _mm512_permutexvar_epi8(i0[q], t0));
        a[A == 4 ? 1 : 0] = _mm512_dpbusd_epi32(
            a[A == 4 ? 1 : 0], ones, _mm512_permutexvar_epi8(i1[q], t1));
        a[A == 4 ? 2 : 1] = _mm512_dpbusd_epi32(
            a[A == 4 ? 2 : 1], ones, _mm512_permutexvar_epi8(i0[q], t2));
        a[A - 1] = _mm512_dpbusd_epi32(a[A - 1], ones,
                                       _mm512_permutexvar_epi8(i1[q], t3));
      }
    }
  }
  for (int r = 0; r < MT; ++r)
    for (int q = 0; q < NB; ++q) {
      const __m512i *a = acc[r][q];
      const __m512i hi = A == 4 ? _mm512_add_epi32(a[0], a[1]) : a[0];
      const __m512i lo = A == 4 ? _mm512_add_epi32(a[2], a[3]) : a[1];
      int32_t *p = part[q] + r * 16;
      _mm512_storeu_si512(
          p, _mm512_add_epi32(_mm512_loadu_si512(p),
                              _mm512_add_epi32(_mm512_slli_epi32(hi, 8), lo)));
    }
}

void avx512LutChunkedI16(const Activations &a, const int8_t *tables,
                         const float *scales, const ChunkedWeights &w,
                         int64_t b0, int64_t b1, float *out, int64_t ldo) {
  constexpr int MT = 4;
  const int64_t rowBytes = w.kw * kI16TableBytesPerWord, nb = b1 - b0;
  // Integer sums of the task's blocks: [block][row][16].
  thread_local std::vector<int32_t> partBuf;
  partBuf.assign(static_cast<size_t>(nb * a.m * 16), 0);
  int32_t *part = partBuf.data();
  for (int64_t c = 0; c < w.chunks(); ++c) {
    const int64_t cw = w.chunkWords(c), w0 = c * kI16ChunkWords;
    for (int64_t b = b0; b < b1; b += 2) {
      const uint8_t *wp = w.at(c, b);
      const bool two = b + 1 < b1;
      for (int64_t i0 = 0; i0 < a.m; i0 += MT) {
        const int mt = int(std::min<int64_t>(MT, a.m - i0));
        const int8_t *tab[MT];
        for (int r = 0; r < mt; ++r)
          tab[r] = tables + (i0 + r) * rowBytes + w0 * kI16TableBytesPerWord;
        int32_t *p[2] = {part + ((b - b0) * a.m + i0) * 16,
                         part + ((b + 1 - b0) * a.m + i0) * 16};
        withRowTile<MT>(mt, [&](auto rows) {
          constexpr int R = decltype(rows)::value;
          if (two)
            i16Tile<R, 2>(tab, wp, cw * 64, cw, p);
          else
            i16Tile<R, 1>(tab, wp, cw * 64, cw, p);
        });
      }
    }
  }
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t valid = std::min<int64_t>(16, w.n - 16 * b);
    const __mmask16 mask =
        valid >= 16 ? __mmask16(0xffff) : __mmask16((1u << valid) - 1);
    for (int64_t i = 0; i < a.m; ++i) {
      const __m512i s =
          _mm512_loadu_si512(part + ((b - b0) * a.m + i) * 16);
      _mm512_mask_storeu_ps(
          out + i * ldo + 16 * b, mask,
          _mm512_mul_ps(_mm512_cvtepi32_ps(s), _mm512_set1_ps(scales[i])));
    }
  }
}

} // namespace rt
} // namespace onebit
