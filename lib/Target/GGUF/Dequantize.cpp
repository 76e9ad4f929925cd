//===- Dequantize.cpp - GGML block formats to f32 -------------------------===//
//
// Each GGML quantized type stores blocks of 32 (legacy) or 256 (k-quants)
// values with per-block f16 scales. The bit layouts follow the GGUF
// specification; the unit tests compare every type with the `gguf` Python
// package's independent decoder.
//
//===----------------------------------------------------------------------===//

#include "onebit/Target/GGUF/GGUFFile.h"

#include <cstring>

namespace onebit::gguf {
namespace {

float f16(const uint8_t *p) {
  uint16_t h = uint16_t(p[0]) | uint16_t(p[1]) << 8;
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {
      exp = 113;
      while (!(man & 0x400)) {
        man <<= 1;
        --exp;
      }
      bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bf16(const uint8_t *p) {
  uint32_t bits = (uint32_t(p[0]) | uint32_t(p[1]) << 8) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint32_t le32(const uint8_t *p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 |
         uint32_t(p[3]) << 24;
}

// Legacy 32-value blocks.
void q8_0(const uint8_t *b, float *y) {
  float d = f16(b);
  for (int j = 0; j < 32; ++j)
    y[j] = d * float(int8_t(b[2 + j]));
}

void q4_0(const uint8_t *b, float *y) {
  float d = f16(b);
  const uint8_t *qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = d * float(int(qs[j] & 0x0f) - 8);
    y[j + 16] = d * float(int(qs[j] >> 4) - 8);
  }
}

void q4_1(const uint8_t *b, float *y) {
  float d = f16(b), m = f16(b + 2);
  const uint8_t *qs = b + 4;
  for (int j = 0; j < 16; ++j) {
    y[j] = d * float(qs[j] & 0x0f) + m;
    y[j + 16] = d * float(qs[j] >> 4) + m;
  }
}

// Five-bit types: the low nibbles as in Q4, the fifth bits in a 32-bit mask
// (bit j for value j, bit j + 16 for value j + 16).
void q5(const uint8_t *qh4, const uint8_t *qs, float d, float m, int offset,
        float *y) {
  uint32_t qh = le32(qh4);
  for (int j = 0; j < 16; ++j) {
    int lo = int(qs[j] & 0x0f) | int((qh >> j) & 1) << 4;
    int hi = int(qs[j] >> 4) | int((qh >> (j + 16)) & 1) << 4;
    y[j] = d * float(lo - offset) + m;
    y[j + 16] = d * float(hi - offset) + m;
  }
}

void q5_0(const uint8_t *b, float *y) { q5(b + 2, b + 6, f16(b), 0, 16, y); }
void q5_1(const uint8_t *b, float *y) {
  q5(b + 4, b + 8, f16(b), f16(b + 2), 0, y);
}

// k-quants: 256 values in 8 sub-blocks of 32 with 6-bit scales and mins
// packed into 12 bytes.
void scaleMin(int j, const uint8_t *s, int &scale, int &min) {
  if (j < 4) {
    scale = s[j] & 63;
    min = s[j + 4] & 63;
  } else {
    scale = (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4);
    min = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

void q4_k(const uint8_t *b, float *y) {
  float d = f16(b), dmin = f16(b + 2);
  const uint8_t *scales = b + 4, *q = b + 16;
  for (int sub = 0; sub < 8; sub += 2, q += 32, y += 64) {
    int s0, m0, s1, m1;
    scaleMin(sub, scales, s0, m0);
    scaleMin(sub + 1, scales, s1, m1);
    for (int l = 0; l < 32; ++l) {
      y[l] = d * s0 * float(q[l] & 0x0f) - dmin * m0;
      y[l + 32] = d * s1 * float(q[l] >> 4) - dmin * m1;
    }
  }
}

void q5_k(const uint8_t *b, float *y) {
  float d = f16(b), dmin = f16(b + 2);
  const uint8_t *scales = b + 4, *qh = b + 16, *q = b + 48;
  for (int sub = 0; sub < 8; sub += 2, q += 32, y += 64) {
    int s0, m0, s1, m1;
    scaleMin(sub, scales, s0, m0);
    scaleMin(sub + 1, scales, s1, m1);
    for (int l = 0; l < 32; ++l) {
      int lo = (q[l] & 0x0f) | ((qh[l] >> sub) & 1) << 4;
      int hi = (q[l] >> 4) | ((qh[l] >> (sub + 1)) & 1) << 4;
      y[l] = d * s0 * float(lo) - dmin * m0;
      y[l + 32] = d * s1 * float(hi) - dmin * m1;
    }
  }
}

void q6_k(const uint8_t *b, float *y) {
  const uint8_t *ql = b, *qh = b + 128;
  const int8_t *sc = reinterpret_cast<const int8_t *>(b + 192);
  float d = f16(b + 208);
  for (int half = 0; half < 2; ++half, ql += 64, qh += 32, sc += 8, y += 128)
    for (int l = 0; l < 32; ++l) {
      int is = l / 16;
      int v0 = int((ql[l] & 0x0f) | ((qh[l] >> 0) & 3) << 4) - 32;
      int v1 = int((ql[l + 32] & 0x0f) | ((qh[l] >> 2) & 3) << 4) - 32;
      int v2 = int((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
      int v3 = int((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
      y[l] = d * sc[is] * float(v0);
      y[l + 32] = d * sc[is + 2] * float(v1);
      y[l + 64] = d * sc[is + 4] * float(v2);
      y[l + 96] = d * sc[is + 6] * float(v3);
    }
}

const TypeTraits kTraits[] = {
    /*0*/ {"F32", 1, 4, true},      /*1*/ {"F16", 1, 2, true},
    /*2*/ {"Q4_0", 32, 18, true},   /*3*/ {"Q4_1", 32, 20, true},
    /*4*/ {nullptr, 0, 0, false},   /*5*/ {nullptr, 0, 0, false},
    /*6*/ {"Q5_0", 32, 22, true},   /*7*/ {"Q5_1", 32, 24, true},
    /*8*/ {"Q8_0", 32, 34, true},   /*9*/ {"Q8_1", 32, 36, false},
    /*10*/ {"Q2_K", 256, 84, false}, /*11*/ {"Q3_K", 256, 110, false},
    /*12*/ {"Q4_K", 256, 144, true}, /*13*/ {"Q5_K", 256, 176, true},
    /*14*/ {"Q6_K", 256, 210, true}, /*15*/ {"Q8_K", 256, 292, false},
};
const TypeTraits kBF16 = {"BF16", 1, 2, true};

} // namespace

const TypeTraits *getTypeTraits(uint32_t type) {
  if (type == uint32_t(GGMLType::BF16))
    return &kBF16;
  if (type < sizeof(kTraits) / sizeof(kTraits[0]) && kTraits[type].name)
    return &kTraits[type];
  return nullptr;
}

bool dequantize(GGMLType type, const uint8_t *data, int64_t count,
                float *out) {
  const TypeTraits *t = getTypeTraits(uint32_t(type));
  if (!t || !t->canDequantize || count % t->blockSize)
    return false;
  void (*block)(const uint8_t *, float *) = nullptr;
  switch (type) {
  case GGMLType::F32:
    std::memcpy(out, data, count * 4);
    return true;
  case GGMLType::F16:
    for (int64_t i = 0; i < count; ++i)
      out[i] = f16(data + 2 * i);
    return true;
  case GGMLType::BF16:
    for (int64_t i = 0; i < count; ++i)
      out[i] = bf16(data + 2 * i);
    return true;
  case GGMLType::Q8_0:
    block = q8_0;
    break;
  case GGMLType::Q4_0:
    block = q4_0;
    break;
  case GGMLType::Q4_1:
    block = q4_1;
    break;
  case GGMLType::Q5_0:
    block = q5_0;
    break;
  case GGMLType::Q5_1:
    block = q5_1;
    break;
  case GGMLType::Q4_K:
    block = q4_k;
    break;
  case GGMLType::Q5_K:
    block = q5_k;
    break;
  case GGMLType::Q6_K:
    block = q6_k;
    break;
  default:
    return false;
  }
  for (int64_t b = 0, n = count / t->blockSize; b < n; ++b)
    block(data + b * t->typeSize, out + b * t->blockSize);
  return true;
}

} // namespace onebit::gguf
