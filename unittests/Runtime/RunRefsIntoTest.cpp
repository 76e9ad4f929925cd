//===- RunRefsIntoTest.cpp - results written into the caller's memory ----===//
//
// Executable::runRefsInto lends the inputs to the compiled code and copies
// each result into memory the caller gives (the data-parallel trainer has
// the gradients land in its all-reduce buffer this way), row-major whatever
// the result's strides, and frees what the call allocated. A hand-written
// executable (its packed entries are C++) records what it is given.
//
//===----------------------------------------------------------------------===//

#include "onebit/Runtime/Executable.h"

#include "Signatures.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace onebit {
namespace {

/// What the entries saw and freed.
std::vector<const void *> seenInputs;
int calls = 0, frees = 0;

int64_t word(void **args, int i) { return *static_cast<int64_t *>(args[i]); }

/// @sum_transpose(x: 2x2) -> (sum: scalar, t: 2x2): t is x transposed,
/// returned as a strided view (strides {1, 2}) of a copy of x.
void sumTranspose(void **args) {
  ++calls;
  const float *x = reinterpret_cast<const float *>(word(args, 1));
  seenInputs.push_back(x);
  auto *s = static_cast<float *>(std::malloc(sizeof(float)));
  *s = x[0] + x[1] + x[2] + x[3];
  auto *t = static_cast<float *>(std::malloc(4 * sizeof(float)));
  std::memcpy(t, x, 4 * sizeof(float));
  int64_t *r = static_cast<int64_t *>(args[7]);
  r[0] = r[1] = reinterpret_cast<int64_t>(s);
  r[2] = 0;
  r += 3;
  r[0] = r[1] = reinterpret_cast<int64_t>(t);
  r[2] = 0;
  r[3] = r[4] = 2; // sizes
  r[5] = 1;        // strides: column-major, the transpose
  r[6] = 2;
}

/// @first(x: ?) -> (y: ?): the first three elements of x.
void firstThree(void **args) {
  ++calls;
  const float *x = reinterpret_cast<const float *>(word(args, 1));
  auto *y = static_cast<float *>(std::malloc(3 * sizeof(float)));
  std::memcpy(y, x, 3 * sizeof(float));
  int64_t *r = static_cast<int64_t *>(args[5]);
  r[0] = r[1] = reinterpret_cast<int64_t>(y);
  r[2] = 0;
  r[3] = 3;
  r[4] = 1;
}

class FakeModel : public Executable {
public:
  FakeModel()
      : Executable([](void *p) {
          ++frees;
          std::free(p);
        }) {
    Entry e;
    e.name = "sum_transpose";
    e.inputs = {signature({2, 2}, "x")};
    e.results = {signature({}, "sum"), signature({2, 2}, "t")};
    entries_.push_back(e);
    packed_.push_back(&sumTranspose);
    Entry f;
    f.name = "first";
    f.inputs = {signature({kDynamicDim}, "x")};
    f.results = {signature({kDynamicDim}, "y")};
    entries_.push_back(f);
    packed_.push_back(&firstThree);
  }
};

TensorRef ref(float *p, std::vector<int64_t> shape, size_t n) {
  TensorRef r;
  r.shape = std::move(shape);
  r.data = p;
  r.bytes = n * sizeof(float);
  return r;
}

void reset() {
  seenInputs.clear();
  calls = frees = 0;
}

TEST(RunRefsInto, ResultsLandInTheCallersBufferRowMajor) {
  reset();
  FakeModel model;
  float x[4] = {1, 2, 3, 4};
  // Both results in one buffer, after a guard element each side.
  std::vector<float> buf(7, -1.0f);
  std::string error;
  ASSERT_TRUE(
      model.runRefsInto(*model.find("sum_transpose"), {ref(x, {2, 2}, 4)},
                        {ref(&buf[1], {}, 1), ref(&buf[2], {2, 2}, 4)}, error))
      << error;
  // The input was lent, not copied.
  ASSERT_EQ(seenInputs.size(), 1u);
  EXPECT_EQ(seenInputs[0], static_cast<const void *>(x));
  EXPECT_EQ(buf, (std::vector<float>{-1, 10, 1, 3, 2, 4, -1}));
  // Both results' allocations were freed.
  EXPECT_EQ(frees, 2);
}

TEST(RunRefsInto, WrongDestinationsAreRefusedBeforeTheCall) {
  reset();
  FakeModel model;
  float x[4] = {1, 2, 3, 4}, out[5];
  const Executable::Entry &e = *model.find("sum_transpose");
  std::string error;
  EXPECT_FALSE(
      model.runRefsInto(e, {ref(x, {2, 2}, 4)}, {ref(out, {}, 1)}, error));
  EXPECT_EQ(error, "@sum_transpose returns 2 results but 1 destinations "
                   "were given");
  error.clear();
  EXPECT_FALSE(model.runRefsInto(
      e, {ref(x, {2, 2}, 4)}, {ref(out, {}, 1), ref(out + 1, {4}, 4)}, error));
  EXPECT_EQ(error, "destination 1 (t) is a f32 4 of 16 bytes but "
                   "@sum_transpose returns tensor<2x2 f32>");
  error.clear();
  // The right shape but too few bytes.
  EXPECT_FALSE(model.runRefsInto(e, {ref(x, {2, 2}, 4)},
                                 {ref(out, {}, 1), ref(out + 1, {2, 2}, 3)},
                                 error));
  EXPECT_NE(error.find("destination 1 (t)"), std::string::npos) << error;
  EXPECT_EQ(calls, 0);
}

TEST(RunRefsInto, ADynamicResultOfAnotherSizeIsAnErrorAndStillFreed) {
  reset();
  FakeModel model;
  float x[5] = {1, 2, 3, 4, 5}, out[4] = {0, 0, 0, 0};
  const Executable::Entry &e = *model.find("first");
  std::string error;
  EXPECT_FALSE(
      model.runRefsInto(e, {ref(x, {5}, 5)}, {ref(out, {4}, 4)}, error));
  EXPECT_EQ(error, "result 0 (y) of @first has shape 3 but its destination 4");
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(frees, 1);
  EXPECT_EQ(out[0], 0.0f);
  error.clear();
  ASSERT_TRUE(model.runRefsInto(e, {ref(x, {5}, 5)}, {ref(out, {3}, 3)}, error))
      << error;
  EXPECT_EQ(std::vector<float>(out, out + 4), (std::vector<float>{1, 2, 3, 0}));
}

} // namespace
} // namespace onebit
