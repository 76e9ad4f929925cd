//===- GGUFFile.h - reading GGUF model files --------------------*- C++ -*-===//
//
// A bounds-checked, memory-mapped reader for GGUF v2/v3 files (llama.cpp's
// model format): header, metadata, tensor table, and dequantization of the
// GGML block formats to f32. Plain C++ so tests and tools can use it without
// MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_TARGET_GGUF_GGUFFILE_H
#define ONEBIT_TARGET_GGUF_GGUFFILE_H

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace onebit::gguf {

/// GGML tensor types (the values are the on-disk ids).
enum class GGMLType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  BF16 = 30,
};

struct TypeTraits {
  const char *name;
  int64_t blockSize; ///< values per block
  int64_t typeSize;  ///< bytes per block
  bool canDequantize;
};

/// Traits of a type id, or nullptr for ids this reader does not know.
const TypeTraits *getTypeTraits(uint32_t type);

/// Dequantizes `count` values (a multiple of the block size) of `type` from
/// `data` into `out`. Returns false for types without a dequantizer.
bool dequantize(GGMLType type, const uint8_t *data, int64_t count, float *out);

/// A metadata value. Arrays hold their elements; strings their bytes.
struct MetaValue {
  enum Kind : uint32_t {
    UInt8 = 0, Int8, UInt16, Int16, UInt32, Int32, Float32, Bool, String,
    Array, UInt64, Int64, Float64
  };
  Kind kind = UInt8;
  uint64_t u = 0;   ///< unsigned ints, bool
  int64_t i = 0;    ///< signed ints
  double f = 0;     ///< floats
  std::string s;    ///< strings
  Kind elementKind = UInt8;
  std::vector<MetaValue> array;

  bool isInteger() const;
  /// The value as an integer (any integer kind or bool).
  int64_t asInt() const;
  /// The value as a double (integers and floats).
  double asDouble() const;
};

struct TensorInfo {
  std::string name;
  std::vector<int64_t> dims; ///< GGML order: dims[0] is the fastest axis
  uint32_t type = 0;
  uint64_t offset = 0;       ///< relative to the data section
  const uint8_t *data = nullptr;
  uint64_t byteSize = 0;
  int64_t numElements() const;
};

class GGUFFile {
public:
  ~GGUFFile();
  /// Maps and parses `path`. On failure returns nullptr and sets `error` to a
  /// message naming the file and the problem.
  static std::unique_ptr<GGUFFile> open(const std::string &path,
                                        std::string &error);
  /// Parses `size` bytes at `data`, which must outlive the result (fuzzers
  /// and callers that already hold the file in memory). `name` stands for the
  /// file in messages.
  static std::unique_ptr<GGUFFile> fromBuffer(const uint8_t *data, size_t size,
                                              const std::string &name,
                                              std::string &error);

  uint32_t version() const { return version_; }
  const std::map<std::string, MetaValue> &metadata() const { return meta_; }
  const std::vector<TensorInfo> &tensors() const { return tensors_; }
  const MetaValue *find(const std::string &key) const;
  const TensorInfo *findTensor(const std::string &name) const;
  const std::string &path() const { return path_; }

  /// Dequantizes a whole tensor to f32 (row-major with dims reversed, i.e.
  /// the usual [rows, cols] order). Fails with a message for unsupported types.
  bool readAsF32(const TensorInfo &t, std::vector<float> &out,
                 std::string &error) const;

  /// Gives the pages that lie wholly inside `t`'s data back to the kernel
  /// when the file is mapped (open(); nothing for fromBuffer), so a tensor
  /// that was read once does not stay in the resident set: the pages are
  /// read from the file again if it is read again. The importer calls it
  /// once it has copied a tensor.
  void releasePages(const TensorInfo &t) const;

private:
  GGUFFile() = default;
  /// Parses the `size_` bytes at `base`; on failure sets `error`.
  bool parse(const uint8_t *base, std::string &error);
  std::string path_;
  void *map_ = nullptr;
  size_t size_ = 0;
  uint32_t version_ = 0;
  std::map<std::string, MetaValue> meta_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> tensorIndex_;
};

} // namespace onebit::gguf

#endif // ONEBIT_TARGET_GGUF_GGUFFILE_H
