//===- Json.cpp - gpu_bench: the JSON report, without LLVM ----------------===//

#include "Json.h"

#include <cmath>
#include <cstdio>

namespace gpubench {

namespace {

std::string quote(const std::string &s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
    case '"': out += "\\\""; break;
    case '\\': out += "\\\\"; break;
    case '\n': out += "\\n"; break;
    case '\t': out += "\\t"; break;
    case '\r': out += "\\r"; break;
    default:
      if (c < 0x20) {
        char b[8];
        std::snprintf(b, sizeof(b), "\\u%04x", c);
        out += b;
      } else {
        out += char(c);
      }
    }
  }
  return out + "\"";
}

} // namespace

Json &Json::operator[](const std::string &key) {
  if (kind == Kind::Null)
    kind = Kind::Object;
  return members[key];
}

void Json::push(Json v) {
  if (kind == Kind::Null)
    kind = Kind::Array;
  items.push_back(std::move(v));
}

std::string Json::dump(int indent) const {
  std::string pad(size_t(indent + 2), ' '), end(size_t(indent), ' ');
  switch (kind) {
  case Kind::Null:
    return "null";
  case Kind::Bool:
    return boolean ? "true" : "false";
  case Kind::Integer:
    return std::to_string(integer);
  case Kind::Number: {
    if (!std::isfinite(number)) // JSON has no inf or NaN
      return "null";
    char b[64];
    std::snprintf(b, sizeof(b), "%.17g", number);
    return b;
  }
  case Kind::String:
    return quote(string);
  case Kind::Array: {
    if (items.empty())
      return "[]";
    std::string out = "[\n";
    for (size_t i = 0; i < items.size(); ++i)
      out += pad + items[i].dump(indent + 2) +
             (i + 1 < items.size() ? ",\n" : "\n");
    return out + end + "]";
  }
  case Kind::Object: {
    if (members.empty())
      return "{}";
    std::string out = "{\n";
    size_t i = 0;
    for (const auto &[key, value] : members)
      out += pad + quote(key) + ": " + value.dump(indent + 2) +
             (++i < members.size() ? ",\n" : "\n");
    return out + end + "}";
  }
  }
  return "null";
}

} // namespace gpubench
