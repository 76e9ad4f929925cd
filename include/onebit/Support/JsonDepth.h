//===- JsonDepth.h - nesting depth of untrusted JSON ------------*- C++ -*-===//
//
// llvm::json::parse recurses once per nesting level, so a few tens of
// kilobytes of '[' overflow the stack. Readers of untrusted JSON measure the
// depth first with this scanner, which does not recurse. Plain C++.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_SUPPORT_JSONDEPTH_H
#define ONEBIT_SUPPORT_JSONDEPTH_H

#include <cstddef>
#include <string_view>

namespace onebit {

/// The deepest nesting of arrays and objects in `json` (brackets inside
/// strings do not count). Malformed text gives some depth; the parser then
/// reports what is wrong with it.
size_t jsonNestingDepth(std::string_view json);

/// Nesting that readers of JSON files accept: real tokenizer.json files
/// nest 6 levels deep, JSONL records 3.
constexpr size_t kMaxJsonNesting = 64;

} // namespace onebit

#endif // ONEBIT_SUPPORT_JSONDEPTH_H
