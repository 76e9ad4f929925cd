//===- onebit-artifact-fuzzer.cpp - libFuzzer entry for .onebit files -----===//
//
// Feeds arbitrary bytes to the artifact loader that onebit-run,
// onebit-generate and the C API use: the header, the section table, the
// metadata decoder and its consistency checks, the CPU-feature check, then
// the tokenizer section's decoder. The code section is not loaded: an
// artifact's code is native code, run as it is (docs/security.md).
//
// The header's checksum covers the metadata, so a mutated input would
// almost never reach the decoder; the checksum is recomputed here first, as
// a writer would, whenever the section table can be read.
//
// Run: onebit-artifact-fuzzer -max_len=65536 CORPUS_DIR
//
//===----------------------------------------------------------------------===//

#include "onebit/Runtime/Artifact.h"
#include "onebit/Runtime/ArtifactFormat.h"
#include "onebit/Tokenizer/BPETokenizer.h"

#include <cstddef>
#include <cstdint>
#include <string>

using namespace onebit::artifact;

/// Writes the checksum the loader expects into the header of `b`.
static void fixChecksum(std::string &b) {
  if (b.size() < kHeaderSize)
    return;
  uint32_t count = getU32(b.data() + 12);
  if (count > kMaxSections ||
      kHeaderSize + uint64_t(count) * kSectionEntrySize > b.size())
    return;
  uint64_t sum = kChecksumSeed;
  for (uint32_t i = 0; i < count; ++i) {
    const char *e = b.data() + kHeaderSize + i * kSectionEntrySize;
    uint64_t off = getU64(e + 8), size = getU64(e + 16);
    if (off > b.size() || size > b.size() - off)
      return;
    if (getU32(e) != uint32_t(SectionKind::Constants))
      sum = checksum(b.data() + off, size, sum);
  }
  putU64(b.data() + 24, sum);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string bytes(reinterpret_cast<const char *>(data), size);
  fixChecksum(bytes);
  std::string error;
  auto artifact =
      onebit::Artifact::fromBytes(bytes, "fuzz.onebit", /*loadCode=*/false,
                                  error);
  if (!artifact) {
    if (error.empty())
      __builtin_trap();
    return 0;
  }
  // What the executable relies on once the metadata is accepted.
  for (const auto &e : artifact->entries())
    for (int c : e.cacheArgs)
      if (c < 0 || size_t(c) >= e.inputs.size() ||
          e.inputs[c].shape.size() < 3)
        __builtin_trap();
  if (!artifact->tokenizerBytes().empty()) {
    auto tokenizer =
        onebit::BPETokenizer::deserialize(artifact->tokenizerBytes(), error);
    if (tokenizer)
      (void)tokenizer->decode(tokenizer->encode("Hello, world! 42"));
  }
  return 0;
}
