//===- BytecodeCheck.cpp - What MLIR's bytecode reader does not check -----===//

#include "onebit/Frontend/BytecodeCheck.h"

#include "llvm/ADT/bit.h"

#include <cstdint>

namespace onebit {

namespace {

/// Reads the bytecode format's integers and sections (mlir/Bytecode/Encoding.h
/// describes them), failing with a message at the first byte that does not
/// fit.
class Cursor {
public:
  Cursor(llvm::StringRef bytes, size_t begin, size_t end)
      : bytes_(bytes), at_(begin), end_(end) {}

  bool empty() const { return at_ >= end_; }
  size_t at() const { return at_; }

  bool byte(uint8_t &b) {
    if (at_ >= end_)
      return false;
    b = uint8_t(bytes_[at_++]);
    return true;
  }
  /// A variable-length integer: the trailing zeros of the first byte say how
  /// many bytes follow; a first byte of zero is followed by eight.
  bool varInt(uint64_t &v) {
    uint8_t first;
    if (!byte(first))
      return false;
    if (first & 1) {
      v = first >> 1;
      return true;
    }
    unsigned more = first ? llvm::countr_zero(first) : 8;
    if (end_ - at_ < more)
      return false;
    uint64_t value = first ? first : 0;
    for (unsigned i = 0; i < more; ++i)
      value |= uint64_t(uint8_t(bytes_[at_ + i]))
               << (first ? 8 * (i + 1) : 8 * i);
    at_ += more;
    v = first ? value >> (more + 1) : value;
    return true;
  }
  bool skipString() {
    while (at_ < end_)
      if (bytes_[at_++] == '\0')
        return true;
    return false;
  }
  bool skip(uint64_t n) {
    if (n > end_ - at_)
      return false;
    at_ += n;
    return true;
  }

private:
  llvm::StringRef bytes_;
  size_t at_, end_;
};

constexpr uint8_t kAttrTypeOffsetSection = 3;
constexpr uint8_t kAlignmentByte = 0xCB;

/// The offset section's groups for `declared` entries: (dialect, count,
/// then `count` sizes) until the declared number is reached.
bool checkGroups(Cursor &c, uint64_t declared, const char *what,
                 std::string &error) {
  uint64_t listed = 0;
  while (listed < declared) {
    uint64_t dialect, count, size;
    bool whole = c.varInt(dialect) && c.varInt(count);
    if (whole && count > declared - listed) {
      error = "the attribute/type offset section lists " +
              std::to_string(listed + count) + " " + what + ", more than the " +
              std::to_string(declared) + " it declares";
      return false;
    }
    for (uint64_t i = 0; whole && i < count; ++i)
      whole = c.varInt(size);
    if (!whole) {
      error = std::string("the attribute/type offset section ends inside "
                          "the ") +
              what;
      return false;
    }
    listed += count;
  }
  return true;
}

} // namespace

bool checkBytecodeTables(llvm::StringRef bytes, std::string &error) {
  if (!bytes.starts_with("ML\xefR")) {
    error = "not MLIR bytecode";
    return false;
  }
  Cursor c(bytes, 4, bytes.size());
  uint64_t version;
  if (!c.varInt(version) || !c.skipString()) {
    error = "the bytecode header is truncated";
    return false;
  }
  while (!c.empty()) {
    uint8_t idAndAligned;
    uint64_t length;
    if (!c.byte(idAndAligned) || !c.varInt(length)) {
      error = "a section header is truncated";
      return false;
    }
    if (idAndAligned & 0x80) {
      uint64_t alignment;
      if (!c.varInt(alignment) || alignment == 0 ||
          (alignment & (alignment - 1))) {
        error = "a section's alignment is not a power of two";
        return false;
      }
      // Padded up to an aligned address, as the reader pads.
      while (uintptr_t(bytes.data() + c.at()) % alignment) {
        uint8_t pad;
        if (!c.byte(pad) || pad != kAlignmentByte) {
          error = "a section's alignment padding is malformed";
          return false;
        }
      }
    }
    const size_t begin = c.at();
    if (!c.skip(length)) {
      error = "a section runs past the end of the file";
      return false;
    }
    if ((idAndAligned & 0x7f) != kAttrTypeOffsetSection)
      continue;
    Cursor section(bytes, begin, begin + length);
    uint64_t attrs, types;
    if (!section.varInt(attrs) || !section.varInt(types)) {
      error = "the attribute/type offset section is truncated";
      return false;
    }
    if (!checkGroups(section, attrs, "attributes", error) ||
        !checkGroups(section, types, "types", error))
      return false;
  }
  return true;
}

} // namespace onebit
