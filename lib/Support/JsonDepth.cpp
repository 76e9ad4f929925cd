//===- JsonDepth.cpp - nesting depth of untrusted JSON --------------------===//

#include "onebit/Support/JsonDepth.h"

#include <algorithm>

size_t onebit::jsonNestingDepth(std::string_view json) {
  size_t depth = 0, deepest = 0;
  bool inString = false;
  for (size_t i = 0; i < json.size(); ++i) {
    char ch = json[i];
    if (inString) {
      if (ch == '\\')
        ++i;
      else if (ch == '"')
        inString = false;
    } else if (ch == '"') {
      inString = true;
    } else if (ch == '[' || ch == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((ch == ']' || ch == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}
