//===- CacheTypeFlag.h - --cache-type of the generation tools ---*- C++ -*-===//
//
// onebit-generate and onebit-bench import a .gguf with the KV-cache entries
// themselves; --cache-type picks the caches' element type for it. Other
// models got theirs at import (onebit-translate --kv-cache-type), so the
// flag is refused for them rather than ignored.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_TOOLS_COMMON_CACHETYPEFLAG_H
#define ONEBIT_TOOLS_COMMON_CACHETYPEFLAG_H

#include "onebit/Target/GGUF/ImportGGUF.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/CommandLine.h"

#include <optional>
#include <string>

namespace onebit {

struct CacheTypeFlag {
  llvm::cl::opt<std::string> name;

  explicit CacheTypeFlag(llvm::cl::OptionCategory &category)
      : name("cache-type",
             llvm::cl::desc(
                 "element type of the KV cache of a .gguf model: f32 "
                 "(exact, the default) or f16 (half the cache's memory and "
                 "the bytes a decode step reads at depth; keys and values "
                 "rounded)"),
             llvm::cl::init("f32"), llvm::cl::cat(category)) {}

  /// The cache type to import `models` with, or nullopt and `error`.
  std::optional<GGUFImportOptions::CacheType>
  resolve(llvm::ArrayRef<std::string> models, std::string &error) const {
    auto type = parseKVCacheType(name);
    if (!type) {
      error = "--cache-type: '" + name + "' is not f32 or f16";
      return std::nullopt;
    }
    if (name.getNumOccurrences())
      for (const std::string &path : models)
        if (!llvm::StringRef(path).ends_with(".gguf")) {
          error = "--cache-type applies to .gguf models, which are imported "
                  "here; set the cache type of " +
                  path +
                  " when importing it (onebit-translate "
                  "--kv-cache-type)";
          return std::nullopt;
        }
    return type;
  }
};

} // namespace onebit

#endif // ONEBIT_TOOLS_COMMON_CACHETYPEFLAG_H
