//===- TokenizerSerializeTest.cpp - the tokenizer a model carries ---------===//

#include "onebit/Tokenizer/BPETokenizer.h"

#include <gtest/gtest.h>

using namespace onebit;

namespace {

std::unique_ptr<BPETokenizer> tiny() {
  // Byte-level symbols: "Ġ" is the space. A merge listed twice keeps its
  // first rank, which a round trip must preserve.
  std::vector<std::string> tokens = {"a", "b", "Ġ", "ab", "Ġab", "<s>"};
  std::vector<int32_t> types = {1, 1, 1, 1, 1, 3};
  std::vector<std::string> merges = {"a b", "a b", "Ġ ab"};
  std::string error;
  auto t = BPETokenizer::fromTables(tokens, types, merges,
                                    BPETokenizer::PreTokenizer::GPT2, error);
  EXPECT_TRUE(t) << error;
  return t;
}

TEST(TokenizerSerialize, RoundTrips) {
  auto t = tiny();
  ASSERT_TRUE(t);
  std::string error;
  auto back = BPETokenizer::deserialize(t->serialize(), error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(back->vocabSize(), t->vocabSize());
  EXPECT_EQ(back->bosId(), t->bosId());
  EXPECT_EQ(back->eosId(), t->eosId());
  EXPECT_EQ(back->addBos(), t->addBos());
  for (const char *text : {"ab ab", "<s>abba ab", "b a"})
    EXPECT_EQ(back->encode(text), t->encode(text)) << text;
  EXPECT_EQ(back->serialize(), t->serialize());
}

TEST(TokenizerSerialize, RejectsMalformedBytes) {
  auto t = tiny();
  ASSERT_TRUE(t);
  std::string bytes = t->serialize(), error;
  EXPECT_FALSE(BPETokenizer::deserialize("", error));
  EXPECT_FALSE(error.empty());
  EXPECT_FALSE(
      BPETokenizer::deserialize("ONEBITTOK0" + bytes.substr(10), error));
  for (size_t n : {size_t(10), size_t(20), bytes.size() - 1})
    EXPECT_FALSE(BPETokenizer::deserialize(bytes.substr(0, n), error)) << n;
  EXPECT_FALSE(BPETokenizer::deserialize(bytes + "x", error));
}

} // namespace
