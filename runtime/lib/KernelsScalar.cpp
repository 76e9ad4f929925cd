//===- KernelsScalar.cpp - portable fallback for the 1-bit layer ----------===//

#include "Kernels.h"

namespace onebit {
namespace rt {

void scalarRows(const Activations &a, const uint32_t *signs, int64_t n,
                int64_t n0, int64_t n1, float *out) {
  const int64_t kw = a.kp / 32;
  for (int64_t r = n0; r < n1; ++r) {
    const uint32_t *row = signs + r * kw;
    for (int64_t i = 0; i < a.m; ++i) {
      const float *x = a.xg + i * a.kp;
      float acc = 0.0f;
      for (int64_t w = 0; w < kw; ++w) {
        uint32_t bits = row[w];
        for (int j = 0; j < 32; ++j) {
          float v = x[w * 32 + j];
          acc += ((bits >> j) & 1) ? -v : v;
        }
      }
      out[i * n + r] = acc;
    }
  }
}

void scalarInt8Rows(const float *x, int64_t m, int64_t k, const int8_t *w,
                    int64_t n0, int64_t n1, float *out, int64_t ldo) {
  for (int64_t r = n0; r < n1; ++r) {
    const int8_t *row = w + r * k;
    for (int64_t i = 0; i < m; ++i) {
      const float *xi = x + i * k;
      float acc = 0.0f;
      for (int64_t c = 0; c < k; ++c)
        acc += xi[c] * float(row[c]);
      out[i * ldo + r] = acc;
    }
  }
}

} // namespace rt
} // namespace onebit
