//===- ArgTableTest.cpp - inputs passed by address in one table ----------===//
//
// An entry whose code takes some inputs by address (Executable::Entry::
// tableArgs, from onebit-entry-arg-table) is called with the other inputs'
// descriptors, in order, then one table of inputs.size() addresses: entry k
// holds input k's data for a tabled input, 0 otherwise. A hand-written
// executable checks what it is given; the artifact metadata carries the
// list and refuses one that does not fit the signature.
//
//===----------------------------------------------------------------------===//

#include "onebit/Runtime/ArtifactFormat.h"
#include "onebit/Runtime/Executable.h"

#include "Signatures.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace onebit {
namespace {

int64_t word(void **args, int i) { return *static_cast<int64_t *>(args[i]); }

/// What the last call saw.
std::vector<int64_t> seenTable;
int64_t seenDynamicSize = 0;

/// @weighted(w: 2x2 by address, x: ? descriptor, b: 2 by address) ->
/// (s: scalar): sum(w) * sum(x) + sum(b).
void weighted(void **args) {
  // x's descriptor: allocated, aligned, offset, size, stride.
  const float *x = reinterpret_cast<const float *>(word(args, 1));
  seenDynamicSize = word(args, 3);
  // The table's descriptor: allocated, aligned, offset, size, stride.
  const int64_t *table = reinterpret_cast<const int64_t *>(word(args, 6));
  const int64_t n = word(args, 8);
  seenTable.assign(table, table + n);
  const float *w = reinterpret_cast<const float *>(table[0]);
  const float *b = reinterpret_cast<const float *>(table[2]);
  float sw = w[0] + w[1] + w[2] + w[3], sx = 0;
  for (int64_t i = 0; i < seenDynamicSize; ++i)
    sx += x[i];
  auto *s = static_cast<float *>(std::malloc(sizeof(float)));
  *s = sw * sx + b[0] + b[1];
  int64_t *r = static_cast<int64_t *>(args[10]);
  r[0] = r[1] = reinterpret_cast<int64_t>(s);
  r[2] = 0;
}

Executable::Entry weightedEntry() {
  Executable::Entry e;
  e.name = "weighted";
  e.inputs = {signature({2, 2}, "w"), signature({kDynamicDim}, "x"),
              signature({2}, "b")};
  e.results = {signature({}, "s")};
  e.tableArgs = {0, 2};
  return e;
}

class TableModel : public Executable {
public:
  TableModel() : Executable(&std::free) {
    entries_.push_back(weightedEntry());
    packed_.push_back(&weighted);
  }
};

HostTensor tensor(std::vector<int64_t> shape, std::vector<float> values) {
  HostTensor t;
  t.dtype = DType::F32;
  t.shape = std::move(shape);
  t.data.resize(values.size() * sizeof(float));
  std::memcpy(t.data.data(), values.data(), t.data.size());
  return t;
}

TEST(ArgTable, TabledInputsArePassedByAddressAfterTheOthers) {
  TableModel model;
  HostTensor w = tensor({2, 2}, {1, 2, 3, 4}), x = tensor({3}, {1, 1, 2}),
             b = tensor({2}, {0.5f, 0.25f});
  std::vector<HostTensor> out;
  std::string error;
  ASSERT_TRUE(model.run("weighted", {w, x, b}, out, error)) << error;
  ASSERT_EQ(out.size(), 1u);
  float s;
  std::memcpy(&s, out[0].data.data(), sizeof(float));
  EXPECT_EQ(s, 10.0f * 4.0f + 0.75f);
  EXPECT_EQ(seenDynamicSize, 3);
  // One slot per input; the descriptor input's slot is 0.
  ASSERT_EQ(seenTable.size(), 3u);
  EXPECT_NE(seenTable[0], 0);
  EXPECT_EQ(seenTable[1], 0);
  EXPECT_NE(seenTable[2], 0);
}

TEST(ArgTable, ATabledInputOfTheWrongShapeIsRefusedBeforeTheCall) {
  TableModel model;
  seenTable.clear();
  HostTensor w = tensor({4}, {1, 2, 3, 4}), x = tensor({1}, {1}),
             b = tensor({2}, {0, 0});
  std::vector<HostTensor> out;
  std::string error;
  EXPECT_FALSE(model.run("weighted", {w, x, b}, out, error));
  EXPECT_EQ(error, "input 0 (w) has shape 4 but @weighted expects "
                   "tensor<2x2 f32>");
  EXPECT_TRUE(seenTable.empty());
}

TEST(ArgTable, ArtifactMetadataCarriesTheListAndChecksIt) {
  artifact::Metadata m;
  m.producer = "test";
  m.target = "cpu";
  m.targetCpu = "x86-64";
  m.entries.push_back(weightedEntry());
  m.symbols.push_back("_mlir_weighted");
  artifact::Metadata back;
  std::string error;
  ASSERT_TRUE(
      artifact::decodeMetadata(artifact::encodeMetadata(m), back, error))
      << error;
  ASSERT_EQ(back.entries.size(), 1u);
  EXPECT_EQ(back.entries[0].tableArgs, (std::vector<int>{0, 2}));

  auto refused = [&](std::vector<int> table, const std::string &why) {
    artifact::Metadata bad = m;
    bad.entries[0].tableArgs = std::move(table);
    std::string err;
    EXPECT_FALSE(
        artifact::decodeMetadata(artifact::encodeMetadata(bad), back, err));
    EXPECT_NE(err.find(why), std::string::npos) << err;
  };
  refused({0, 3}, "not ascending argument indices");
  refused({2, 0}, "not ascending argument indices");
  refused({0, 0}, "not ascending argument indices");
  refused({1}, "an argument taken by address has a dynamic size");
}

} // namespace
} // namespace onebit
