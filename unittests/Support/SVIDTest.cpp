//===- SVIDTest.cpp - tests of the SVID rank-1 factorisations -------------===//

#include "onebit/Support/SVID.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

using namespace onebit;

namespace {

std::vector<float> randomMatrix(int64_t rows, int64_t cols, unsigned seed,
                                bool rowScales = false) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::uniform_real_distribution<float> u(0.2f, 3.0f);
  std::vector<float> rs(rows, 1.0f), cs(cols, 1.0f);
  if (rowScales) {
    for (float &x : rs)
      x = u(rng);
    for (float &x : cs)
      x = u(rng);
  }
  std::vector<float> m(rows * cols);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      m[i * cols + j] = d(rng) * rs[i] * cs[j];
  return m;
}

// The paper's proposition: ||W - sign(W).(a b^T)|| <= ||W - rank1SVD(W)||.
TEST(SVID, BeatsRank1SvdOfW) {
  unsigned seed = 3;
  for (auto shape : {std::pair<int64_t, int64_t>{8, 8}, {17, 33}, {64, 31},
                     {5, 200}}) {
    for (bool scaled : {false, true}) {
      auto w = randomMatrix(shape.first, shape.second, seed++, scaled);
      double bound = rank1SvdRelError(w.data(), shape.first, shape.second);
      for (SvidInit init : {SvidInit::NMF, SvidInit::SVD}) {
        SvidOptions o;
        o.init = init;
        SvidResult r = svid(w.data(), shape.first, shape.second, o);
        EXPECT_TRUE(r.converged);
        EXPECT_LE(r.relError, bound + 1e-6)
            << shape.first << "x" << shape.second;
      }
    }
  }
}

// An exact sign x rank-1 matrix is recovered exactly.
TEST(SVID, RecoversExactRank1Magnitudes) {
  const int64_t rows = 12, cols = 20;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(0.5f, 2.0f);
  std::vector<float> a(rows), b(cols), w(rows * cols);
  for (float &x : a)
    x = u(rng);
  for (float &x : b)
    x = u(rng);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      w[i * cols + j] = ((i * 7 + j * 3) % 5 < 2 ? -1.0f : 1.0f) * a[i] * b[j];
  for (SvidInit init : {SvidInit::NMF, SvidInit::SVD}) {
    SvidOptions o;
    o.init = init;
    SvidResult r = svid(w.data(), rows, cols, o);
    EXPECT_LT(r.relError, 1e-5);
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j)
        EXPECT_NEAR(r.a[i] * r.b[j], a[i] * b[j], 1e-4 * a[i] * b[j]);
  }
}

TEST(SVID, NmfAndSvdAgreeAndFactorsAreNonNegative) {
  auto w = randomMatrix(40, 24, 9, true);
  SvidOptions nmf, svd;
  nmf.init = SvidInit::NMF;
  svd.init = SvidInit::SVD;
  SvidResult rn = svid(w.data(), 40, 24, nmf), rs = svid(w.data(), 40, 24, svd);
  EXPECT_NEAR(rn.relError, rs.relError, 1e-5);
  for (float x : rn.a)
    EXPECT_GE(x, 0.0f);
  for (float x : rn.b)
    EXPECT_GE(x, 0.0f);
  // Factors are balanced to the same norm.
  double na = 0, nb = 0;
  for (float x : rn.a)
    na += x * x;
  for (float x : rn.b)
    nb += x * x;
  EXPECT_NEAR(std::sqrt(na), std::sqrt(nb), 1e-3 * std::sqrt(na));
}

TEST(SVID, MeanBaselineIsWorse) {
  auto w = randomMatrix(32, 48, 11, true);
  SvidOptions mean, nmf;
  mean.init = SvidInit::Mean;
  SvidResult rm = svid(w.data(), 32, 48, mean), rn = svid(w.data(), 32, 48, nmf);
  EXPECT_LT(rn.relError, rm.relError);
  // Mean baseline: every reconstructed magnitude equals mean|W|.
  double s = 0;
  for (float x : w)
    s += std::fabs(x);
  EXPECT_NEAR(rm.a[0] * rm.b[0], s / w.size(), 1e-5);
}

TEST(SVID, ZeroMatrix) {
  std::vector<float> w(6 * 5, 0.0f);
  SvidResult r = svid(w.data(), 6, 5, SvidOptions());
  EXPECT_EQ(r.relError, 0.0);
  for (float x : r.a)
    EXPECT_EQ(x, 0.0f);
}

#include "SVIDReference.inc"

// Against stored scikit-learn NMF / numpy SVD factors (make_svid_reference.py):
// the rank-1 products must agree; the split of scale between h and g is free.
TEST(SVID, MatchesScikitLearnAndNumpyReference) {
  std::vector<float> w(kRefRows * kRefCols);
  for (int i = 0; i < kRefRows; ++i)
    for (int j = 0; j < kRefCols; ++j)
      w[i * kRefCols + j] = static_cast<float>(
          std::sin(0.37 * i + 1.3 * j + 0.1 * i * j) * (1 + (i % 3)));
  struct Case {
    SvidInit init;
    const double *h, *g;
  } cases[] = {{SvidInit::NMF, kNmfH, kNmfG}, {SvidInit::SVD, kSvdH, kSvdG}};
  for (const Case &c : cases) {
    SvidOptions o;
    o.init = c.init;
    SvidResult r = svid(w.data(), kRefRows, kRefCols, o);
    for (int i = 0; i < kRefRows; ++i)
      for (int j = 0; j < kRefCols; ++j) {
        double ref = c.h[i] * c.g[j];
        EXPECT_NEAR(double(r.a[i]) * r.b[j], ref, 1e-4 * ref + 1e-6)
            << "init " << int(c.init) << " at " << i << "," << j;
      }
  }
}

TEST(SVID, ParseInit) {
  SvidInit i;
  EXPECT_TRUE(parseSvidInit("svd", i));
  EXPECT_EQ(i, SvidInit::SVD);
  EXPECT_FALSE(parseSvidInit("pca", i));
}

} // namespace
