//===- Json.h - gpu_bench: the JSON report, without LLVM --------*- C++ -*-===//
//
// gpu_bench's --json report is written by the run side, which links no
// LLVM: a JSON value of null, booleans, numbers, strings, arrays and
// objects (keys sorted, as llvm::json writes them), printed with an indent
// of 2.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_BENCHMARKS_GPU_BENCH_JSON_H
#define ONEBIT_BENCHMARKS_GPU_BENCH_JSON_H

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace gpubench {

class Json {
public:
  enum class Kind { Null, Bool, Number, Integer, String, Array, Object };
  Json() = default;
  Json(std::nullptr_t) {}
  Json(bool b) : kind(Kind::Bool), boolean(b) {}
  Json(double d) : kind(Kind::Number), number(d) {}
  Json(int i) : kind(Kind::Integer), integer(i) {}
  Json(int64_t i) : kind(Kind::Integer), integer(i) {}
  Json(const char *s) : kind(Kind::String), string(s) {}
  Json(std::string s) : kind(Kind::String), string(std::move(s)) {}
  static Json array() {
    Json j;
    j.kind = Kind::Array;
    return j;
  }
  static Json object() {
    Json j;
    j.kind = Kind::Object;
    return j;
  }
  /// The member `key` of an object (made one if null).
  Json &operator[](const std::string &key);
  /// Appends to an array (made one if null).
  void push(Json v);
  /// The text, indented by 2 from `indent`.
  std::string dump(int indent = 0) const;

private:
  Kind kind = Kind::Null;
  bool boolean = false;
  double number = 0;
  int64_t integer = 0;
  std::string string;
  std::vector<Json> items;
  std::map<std::string, Json> members;
};

} // namespace gpubench

#endif // ONEBIT_BENCHMARKS_GPU_BENCH_JSON_H
