//===- GeneratorStateTest.cpp - the KV cache is the executable's state ----===//
//
// Generator allocates its two caches once per context through
// Executable::allocateState (device memory for a GPU model), hands the same
// buffers to every @prefill and @decode call, which update them in place,
// and frees them when it goes. A hand-written executable (its packed
// entries are C++) records what it is given.
//
//===----------------------------------------------------------------------===//

#include "onebit/Runtime/Generator.h"

#include "Signatures.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace onebit {
namespace {

constexpr int64_t kVocab = 16;

/// What the entries saw, per call: the caches' data pointers.
std::vector<std::vector<void *>> calls;

/// Caches [1, 1, C, 1, 1]: a step writes token t of its input into slot
/// pos + t of both caches (k = id, v = 2·id) and returns logits that are
/// k_cache[0..kVocab) (so the test sees the cache through the results).
void step(void **args) {
  // ids: {alloc, aligned, offset, 2 sizes, 2 strides}; pos: {alloc,
  // aligned, offset}; each cache: {alloc, aligned, offset, 5 + 5}.
  auto word = [&](int i) { return *static_cast<int64_t *>(args[i]); };
  const int64_t *ids = reinterpret_cast<const int64_t *>(word(1));
  const int64_t tokens = word(4);
  const int64_t pos = *reinterpret_cast<const int64_t *>(word(8));
  float *k = reinterpret_cast<float *>(word(11));
  float *v = reinterpret_cast<float *>(word(24));
  calls.push_back({k, v});
  for (int64_t t = 0; t < tokens; ++t) {
    k[pos + t] = float(ids[t]);
    v[pos + t] = 2 * float(ids[t]);
  }
  auto *logits = static_cast<float *>(std::malloc(kVocab * sizeof(float)));
  std::memcpy(logits, k, kVocab * sizeof(float));
  int64_t *result = static_cast<int64_t *>(args[36]);
  result[0] = result[1] = reinterpret_cast<int64_t>(logits);
  result[2] = 0;
  result[3] = 1;
  result[4] = kVocab;
  result[5] = kVocab;
  result[6] = 1;
}

class FakeModel : public Executable {
public:
  FakeModel() : Executable([](void *p) { std::free(p); }) {
    for (const char *name : {kPrefillEntry, kDecodeEntry}) {
      Entry e;
      e.name = name;
      e.inputs = {
          signature(DType::I64, {1, kDynamicDim}, "input_ids"),
          signature(DType::I64, {}, "pos"),
          signature(DType::F32, {1, kDynamicDim, kDynamicDim, 1, 1}, "k_cache"),
          signature(DType::F32, {1, kDynamicDim, kDynamicDim, 1, 1}, "v_cache"),
      };
      e.results = {signature(DType::F32, {kDynamicDim, kVocab}, "logits")};
      e.inplaceArgs = {2, 3};
      e.positionArg = 1;
      e.tokensArg = 0;
      e.cacheArgs = {2, 3};
      entries_.push_back(e);
      packed_.push_back(&step);
    }
  }

  void *allocateState(size_t bytes, std::string &error) override {
    void *p = Executable::allocateState(bytes, error);
    allocated.push_back(p);
    return p;
  }
  void freeState(void *state) override {
    freed.push_back(state);
    Executable::freeState(state);
  }

  std::vector<void *> allocated, freed;
};

TEST(GeneratorState, CachesAreAllocatedOnceAndUpdatedInPlace) {
  calls.clear();
  FakeModel model;
  std::string error;
  {
    auto gen = Generator::create(model, /*context=*/kVocab, error);
    ASSERT_TRUE(gen) << error;
    ASSERT_EQ(model.allocated.size(), 2u);
    EXPECT_NE(model.allocated[0], model.allocated[1]);
    EXPECT_EQ(gen->cacheBytes(), 2 * kVocab * int64_t(sizeof(float)));

    std::vector<float> logits;
    ASSERT_TRUE(gen->prefill({3, 1, 4}, logits, error)) << error;
    ASSERT_TRUE(gen->decode(1, logits, error)) << error;
    ASSERT_TRUE(gen->decode(5, logits, error)) << error;
    // Every call got the two state buffers themselves: no copy, no new
    // allocation per step.
    ASSERT_EQ(calls.size(), 3u);
    for (const auto &c : calls)
      EXPECT_EQ(c, model.allocated);
    EXPECT_EQ(model.allocated.size(), 2u);
    // The cache kept what every step wrote; the rest is still zero.
    const float want[] = {3, 1, 4, 1, 5};
    for (int i = 0; i < kVocab; ++i)
      EXPECT_EQ(logits[i], i < 5 ? want[i] : 0.0f) << "slot " << i;
    const float *v = static_cast<const float *>(model.allocated[1]);
    EXPECT_EQ(v[4], 10.0f);

    // A new sequence reuses the same buffers.
    gen->reset();
    ASSERT_TRUE(gen->prefill({7}, logits, error)) << error;
    EXPECT_EQ(calls.back(), model.allocated);
    EXPECT_EQ(logits[0], 7.0f);
    EXPECT_TRUE(model.freed.empty());
  }
  // Freed with the generator, each once.
  ASSERT_EQ(model.freed.size(), 2u);
  EXPECT_EQ(model.freed[0], model.allocated[0]);
  EXPECT_EQ(model.freed[1], model.allocated[1]);
}

/// An executable whose state memory cannot be had (a GPU out of memory).
class NoStateModel : public FakeModel {
public:
  void *allocateState(size_t, std::string &error) override {
    error = "cuMemAlloc of 64 bytes failed: out of memory";
    return nullptr;
  }
};

TEST(GeneratorState, AllocationFailureIsAnError) {
  NoStateModel model;
  std::string error;
  auto gen = Generator::create(model, /*context=*/kVocab, error);
  EXPECT_FALSE(gen);
  EXPECT_EQ(error, "the KV cache of 16 positions: cuMemAlloc of 64 bytes "
                   "failed: out of memory");
  EXPECT_TRUE(model.freed.empty());
}

} // namespace
} // namespace onebit

namespace onebit {
namespace {

/// A GPU model as the runtime sees it: its caches are state memory.
class FakeDeviceModel : public FakeModel {
public:
  bool stateOnDevice() const override { return true; }
};

TEST(GeneratorState, DeviceCachesAreNotTakenFromTheHost) {
  calls.clear();
  FakeDeviceModel model;
  std::string error;
  std::vector<HostTensor> inputs(4), outputs;
  inputs[0].dtype = inputs[1].dtype = DType::I64;
  inputs[0].shape = {1, 1};
  inputs[0].data.assign(8, 0);
  inputs[1].data.assign(8, 0);
  for (int c : {2, 3}) {
    inputs[c].dtype = DType::F32;
    inputs[c].shape = {1, 1, kVocab, 1, 1};
    inputs[c].data.assign(kVocab * sizeof(float), 0);
  }
  EXPECT_FALSE(model.runInPlace(kDecodeEntry, inputs, outputs, error));
  EXPECT_NE(error.find("takes its KV caches in device memory"),
            std::string::npos)
      << error;
  EXPECT_TRUE(calls.empty());
  // The generator hands it its state memory and runs.
  auto gen = Generator::create(model, /*context=*/kVocab, error);
  ASSERT_TRUE(gen) << error;
  std::vector<float> logits;
  ASSERT_TRUE(gen->prefill({3, 1}, logits, error)) << error;
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0], model.allocated);
}

} // namespace
} // namespace onebit
