//===- Executable.cpp - call compiled entry points on host tensors --------===//

#include "onebit/Runtime/Executable.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <set>

namespace onebit {
namespace {

/// The little-endian T at `p`, widened to int64_t.
template <typename T> int64_t loadInt(const char *p) {
  T x;
  std::memcpy(&x, p, sizeof(T));
  return int64_t(x);
}

/// Element `n` of integer data `data` of `dtype` as an int64_t; false for a uint64
/// beyond INT64_MAX (then `text` is its value), which no index range holds.
bool intElement(DType dtype, const void *data, int64_t n, int64_t &v,
                std::string &text) {
  const char *p = static_cast<const char *>(data) + n * int64_t(dtypeSize(dtype));
  switch (dtype) {
  case DType::I64:
    v = loadInt<int64_t>(p);
    break;
  case DType::U64: {
    uint64_t u;
    std::memcpy(&u, p, 8);
    if (u > uint64_t(INT64_MAX)) {
      text = std::to_string(u);
      return false;
    }
    v = int64_t(u);
    break;
  }
  case DType::I32:
    v = loadInt<int32_t>(p);
    break;
  case DType::U32:
    v = loadInt<uint32_t>(p);
    break;
  case DType::I16:
    v = loadInt<int16_t>(p);
    break;
  case DType::U16:
    v = loadInt<uint16_t>(p);
    break;
  case DType::U8:
    v = loadInt<uint8_t>(p);
    break;
  default:
    v = loadInt<int8_t>(p);
    break;
  }
  text = std::to_string(v);
  return true;
}

std::string shapeStr(const std::vector<int64_t> &shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? "x" : "") + (isDynamicDim(shape[i]) ? std::string("?")
                                                 : std::to_string(shape[i]));
  return s.empty() ? "scalar" : s;
}

/// Views of host tensors, for runRefs; the tensors stay owned by the caller.
std::vector<TensorRef> refsOf(const std::vector<HostTensor> &tensors) {
  std::vector<TensorRef> refs(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    refs[i].dtype = tensors[i].dtype;
    refs[i].shape = tensors[i].shape;
    refs[i].data = const_cast<char *>(tensors[i].data.data());
    refs[i].bytes = tensors[i].data.size();
  }
  return refs;
}

} // namespace

std::string TensorSignature::str() const {
  return "tensor<" + shapeStr(shape) + " " + dtypeName(dtype) + ">";
}

Executable::~Executable() = default;

void *Executable::allocateState(size_t bytes, std::string &error) {
  // 64-byte aligned (a cache line, an AVX-512 vector), a whole number of
  // alignments as aligned_alloc wants; one byte at least.
  const size_t rounded = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
  if (rounded < bytes) {
    error = "a state buffer of " + std::to_string(bytes) +
            " bytes is too large";
    return nullptr;
  }
  void *p = std::aligned_alloc(64, rounded);
  if (!p) {
    error = "cannot allocate " + std::to_string(bytes) +
            " bytes of host memory";
    return nullptr;
  }
  std::memset(p, 0, rounded);
  return p;
}

void Executable::freeState(void *state) { std::free(state); }

bool Executable::writeState(void *state, const void *src, size_t bytes,
                            std::string &error) {
  if (stateOnDevice()) {
    error = "this executable cannot copy its device state";
    return false;
  }
  std::memcpy(state, src, bytes);
  return true;
}

bool Executable::readState(const void *state, void *dst, size_t bytes,
                           std::string &error) {
  if (stateOnDevice()) {
    error = "this executable cannot copy its device state";
    return false;
  }
  std::memcpy(dst, state, bytes);
  return true;
}

bool Executable::invokeHost(const Entry &e,
                            const std::vector<HostTensor> &inputs,
                            std::vector<HostTensor> &outputs,
                            std::string &error) {
  return runRefs(e, refsOf(inputs), outputs, error);
}

const Executable::Entry *Executable::find(const std::string &name) const {
  for (const Entry &e : entries_)
    if (e.name == name)
      return &e;
  return nullptr;
}

/// Copies a strided tensor (element strides `strides`) into row-major `dst`:
/// one memcpy when it already is row-major, a memcpy per innermost row when
/// that row is contiguous, element by element otherwise. A train step
/// returns every parameter and optimiser moment, so this runs on millions
/// of elements per step.
static void copyToRowMajor(const char *base, const std::vector<int64_t> &shape,
                           const int64_t *strides, size_t es, char *dst) {
  const size_t r = shape.size();
  int64_t count = 1;
  for (int64_t s : shape)
    count *= s;
  if (count == 0)
    return;
  bool rowMajor = true;
  int64_t expect = 1;
  for (size_t k = r; k-- > 0;) {
    if (shape[k] != 1 && strides[k] != expect)
      rowMajor = false;
    expect *= shape[k];
  }
  if (rowMajor) {
    std::memcpy(dst, base, size_t(count) * es);
    return;
  }
  const int64_t inner = r ? shape[r - 1] : 1;
  const bool innerContig = r == 0 || inner == 1 || strides[r - 1] == 1;
  std::vector<int64_t> idx(r, 0);
  for (int64_t n = 0; n < count; n += inner) {
    int64_t off = 0;
    for (size_t k = 0; k + 1 < r; ++k)
      off += idx[k] * strides[k];
    char *to = dst + n * es;
    if (innerContig) {
      std::memcpy(to, base + off * es, size_t(inner) * es);
    } else {
      for (int64_t j = 0; j < inner; ++j)
        std::memcpy(to + j * es, base + (off + j * strides[r - 1]) * es, es);
    }
    for (size_t k = r - 1; k-- > 0;) {
      if (++idx[k] < shape[k])
        break;
      idx[k] = 0;
    }
  }
}

bool Executable::run(const std::vector<HostTensor> &inputs,
                        std::vector<HostTensor> &outputs, std::string &error) {
  return run(entries_.front().name, inputs, outputs, error);
}

bool Executable::run(const std::string &entry,
                        const std::vector<HostTensor> &inputs,
                        std::vector<HostTensor> &outputs, std::string &error) {
  const Entry *e = find(entry);
  if (!e) {
    error = "@" + entry + " was not compiled as an entry";
    return false;
  }
  if (!e->inplaceArgs.empty()) {
    error = "@" + entry + " updates " + e->inputs[e->inplaceArgs[0]].name +
            " in place; run it with runInPlace";
    return false;
  }
  return invokeHost(*e, inputs, outputs, error);
}

bool Executable::runInPlace(const std::string &entry,
                               std::vector<HostTensor> &inputs,
                               std::vector<HostTensor> &outputs,
                               std::string &error) {
  const Entry *e = find(entry);
  if (!e) {
    error = "@" + entry + " was not compiled as an entry";
    return false;
  }
  if (stateOnDevice() && !e->cacheArgs.empty()) {
    error = "@" + entry + " takes its KV caches in device memory on this "
            "GPU model, not as host tensors; generate through the generator "
            "(onebit-generate, onebit_generator_*)";
    return false;
  }
  if (stateOnDevice() && !e->inplaceArgs.empty()) {
    error = "@" + entry + " updates " + e->inputs[e->inplaceArgs[0]].name +
            " in device memory on this GPU model, not in a host tensor; "
            "pass device state (allocateState, writeState) to runRefs";
    return false;
  }
  return invokeHost(*e, inputs, outputs, error);
}

/// A KV-cache entry writes slots [pos, pos + T) of every cache: they must
/// exist, and the caches must hold the ids' batch.
static bool checkCachePosition(const Executable::Entry &e,
                               const std::vector<TensorRef> &inputs,
                               std::string &error) {
  int64_t pos;
  std::string text;
  if (!intElement(inputs[e.positionArg].dtype, inputs[e.positionArg].data, 0,
                  pos, text)) {
    error = "position " + text + " is out of range";
    return false;
  }
  const std::vector<int64_t> &ids = inputs[e.tokensArg].shape;
  for (int c : e.cacheArgs) {
    const std::vector<int64_t> &cache = inputs[c].shape;
    const std::string &name = e.inputs[c].name;
    if (cache[1] != ids[0]) {
      error = name + " holds " + std::to_string(cache[1]) +
              " sequences but the token ids have " + std::to_string(ids[0]);
      return false;
    }
    if (pos < 0 || pos > cache[2] || ids[1] > cache[2] - pos) {
      error = "positions [" + text + ", " + text + " + " +
              std::to_string(ids[1]) + ") do not fit " + name +
              "'s context of " + std::to_string(cache[2]) + " tokens";
      return false;
    }
  }
  return true;
}

bool Executable::callRefs(const Entry &entryRef,
                          const std::vector<TensorRef> &inputs,
                          std::vector<int64_t> &resultDesc,
                          std::string &error) {
  const Entry *e = &entryRef;
  const std::string &entry_ = e->name;
  const std::vector<TensorSignature> &inputs_ = e->inputs;
  const std::vector<TensorSignature> &results_ = e->results;
  if (inputs.size() != inputs_.size()) {
    error = "@" + entry_ + " takes " + std::to_string(inputs_.size()) +
            " inputs but " + std::to_string(inputs.size()) + " were given";
    return false;
  }
  // Memref descriptors: {allocated, aligned, offset, sizes[r], strides[r]}.
  std::vector<std::vector<int64_t>> descs(inputs.size());
  std::vector<void *> args;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorSignature &sig = inputs_[i];
    const TensorRef &t = inputs[i];
    std::string what = "input " + std::to_string(i) + " (" + sig.name + ")";
    if (t.dtype != sig.dtype) {
      error = what + " has dtype " + dtypeName(t.dtype) + " but @" + entry_ +
              " expects " + sig.str();
      // Signless integers are signed unless marked: say how to mark them.
      if (dtypeSize(t.dtype) == dtypeSize(sig.dtype) &&
          std::string(dtypeName(t.dtype)) ==
              std::string("u") + dtypeName(sig.dtype))
        error += " (an unsigned integer argument carries onebit.unsigned)";
      return false;
    }
    bool shapeOk = t.shape.size() == sig.shape.size();
    for (size_t d = 0; shapeOk && d < t.shape.size(); ++d)
      shapeOk = isDynamicDim(sig.shape[d]) ||
                sig.shape[d] == t.shape[d];
    if (!shapeOk) {
      error = what + " has shape " + shapeStr(t.shape) + " but @" + entry_ +
              " expects " + sig.str();
      return false;
    }
    // Compiled code trusts the shape: data that does not hold exactly the
    // elements it describes (or a shape whose size wraps around) would be
    // read out of bounds.
    int64_t bytes;
    if (!checkedByteSize(t.shape, t.dtype, bytes)) {
      error = what + " has shape " + shapeStr(t.shape) +
              ", too large: its byte size does not fit in 64 bits";
      return false;
    }
    if (uint64_t(bytes) != t.bytes) {
      error = what + " has shape " + shapeStr(t.shape) + " of " +
              dtypeName(t.dtype) + ", " + std::to_string(bytes) +
              " bytes, but holds " + std::to_string(t.bytes) +
              " bytes of data";
      return false;
    }
    // Indices out of range would read outside the indexed tensor.
    if (sig.hasIndexRange) {
      int64_t count = bytes / int64_t(dtypeSize(t.dtype));
      for (int64_t n = 0; n < count; ++n) {
        int64_t v;
        std::string text;
        if (intElement(t.dtype, t.data, n, v, text) && v >= sig.indexMin &&
            v < sig.indexBound)
          continue;
        std::string at;
        int64_t rest = n;
        for (size_t k = t.shape.size(); k-- > 0;) {
          at =
              std::to_string(rest % t.shape[k]) + (at.empty() ? "" : ", ") + at;
          rest /= t.shape[k];
        }
        error = what + ": value " + text + " at index [" + at +
                "] is outside [" + std::to_string(sig.indexMin) + ", " +
                std::to_string(sig.indexBound) + ")" +
                (sig.indexUser.empty() ? std::string()
                                       : " (indices of " + sig.indexUser + ")");
        return false;
      }
    }
    size_t r = t.shape.size();
    std::vector<int64_t> &d = descs[i];
    d.assign(3 + 2 * r, 0);
    auto ptr = reinterpret_cast<int64_t>(t.data);
    d[0] = d[1] = ptr;
    int64_t stride = 1;
    for (size_t k = r; k-- > 0;) {
      d[3 + k] = t.shape[k];
      d[3 + r + k] = stride;
      stride *= t.shape[k];
    }
  }
  if (e->positionArg >= 0 && !checkCachePosition(*e, inputs, error))
    return false;
  // Inputs taken by address (Entry::tableArgs) are entries of one table,
  // passed after the other inputs' descriptors.
  std::vector<int64_t> table, tableDesc;
  if (!e->tableArgs.empty()) {
    table.assign(inputs.size(), 0);
    for (int k : e->tableArgs) {
      table[size_t(k)] = descs[size_t(k)][1];
      descs[size_t(k)].clear();
    }
    tableDesc = {reinterpret_cast<int64_t>(table.data()),
                 reinterpret_cast<int64_t>(table.data()), 0,
                 int64_t(table.size()), 1};
  }
  for (auto &d : descs)
    for (int64_t &v : d)
      args.push_back(&v);
  for (int64_t &v : tableDesc)
    args.push_back(&v);
  size_t resultWords = 0;
  for (const TensorSignature &s : results_)
    resultWords += 3 + 2 * s.shape.size();
  resultDesc.assign(resultWords, 0);
  if (!results_.empty())
    args.push_back(resultDesc.data());

  // Looked up once, when compiled.
  packed_[size_t(e - entries_.data())](args.data());
  return true;
}

void Executable::takeResults(
    const Entry &e, const std::vector<TensorRef> &inputs,
    const std::vector<int64_t> &resultDesc,
    const std::function<void(size_t, const TensorRef &, const int64_t *strides)>
        &take) {
  const size_t index = size_t(&e - entries_.data());
  void (*freeResult)(void *) =
      index < entryFreeResult_.size() ? entryFreeResult_[index] : freeResult_;
  std::set<int64_t> inputPtrs, freed;
  for (const TensorRef &t : inputs)
    inputPtrs.insert(reinterpret_cast<int64_t>(t.data));
  size_t at = 0;
  for (size_t i = 0; i < e.results.size(); ++i) {
    size_t r = e.results[i].shape.size();
    const int64_t *d = resultDesc.data() + at;
    at += 3 + 2 * r;
    TensorRef result;
    result.dtype = e.results[i].dtype;
    result.shape.assign(d + 3, d + 3 + r);
    size_t es = dtypeSize(result.dtype);
    result.data = reinterpret_cast<char *>(d[1]) + d[2] * es;
    take(i, result, d + 3 + r);
    // Results are owned by the caller (buffer-deallocation-pipeline); free
    // each allocation once, never an input's, back to the runtime's block
    // cache it came from (or to the GPU runtime: managed memory).
    if (d[0] && !inputPtrs.count(d[0]) && freed.insert(d[0]).second)
      freeResult(reinterpret_cast<void *>(d[0]));
  }
}

bool Executable::runRefs(const Entry &e, const std::vector<TensorRef> &inputs,
                         std::vector<HostTensor> &outputs, std::string &error) {
  std::vector<int64_t> resultDesc;
  if (!callRefs(e, inputs, resultDesc, error))
    return false;
  outputs.assign(e.results.size(), HostTensor());
  takeResults(e, inputs, resultDesc,
              [&](size_t i, const TensorRef &result, const int64_t *strides) {
                HostTensor &out = outputs[i];
                out.dtype = result.dtype;
                out.shape = result.shape;
                size_t es = dtypeSize(out.dtype);
                out.data.resize(size_t(out.numElements()) * es);
                copyToRowMajor(static_cast<const char *>(result.data),
                               out.shape, strides, es, out.data.data());
              });
  return true;
}

bool Executable::runRefsInto(const Entry &e,
                             const std::vector<TensorRef> &inputs,
                             const std::vector<TensorRef> &outputs,
                             std::string &error) {
  if (outputs.size() != e.results.size()) {
    error = "@" + e.name + " returns " + std::to_string(e.results.size()) +
            " results but " + std::to_string(outputs.size()) +
            " destinations were given";
    return false;
  }
  // The destinations must fit a result of the signature before the call;
  // a dynamic size is checked against what the call returned.
  for (size_t i = 0; i < outputs.size(); ++i) {
    const TensorSignature &sig = e.results[i];
    const TensorRef &t = outputs[i];
    bool ok = t.dtype == sig.dtype && t.shape.size() == sig.shape.size();
    for (size_t d = 0; ok && d < t.shape.size(); ++d)
      ok = isDynamicDim(sig.shape[d]) || sig.shape[d] == t.shape[d];
    int64_t bytes = 0;
    ok = ok && checkedByteSize(t.shape, t.dtype, bytes) &&
         uint64_t(bytes) == t.bytes;
    if (!ok) {
      error = "destination " + std::to_string(i) + " (" + sig.name + ") is a " +
              dtypeName(t.dtype) + " " + shapeStr(t.shape) + " of " +
              std::to_string(t.bytes) + " bytes but @" + e.name + " returns " +
              sig.str();
      return false;
    }
  }
  std::vector<int64_t> resultDesc;
  if (!callRefs(e, inputs, resultDesc, error))
    return false;
  takeResults(e, inputs, resultDesc,
              [&](size_t i, const TensorRef &result, const int64_t *strides) {
                const TensorRef &to = outputs[i];
                if (result.shape != to.shape) {
                  if (error.empty())
                    error = "result " + std::to_string(i) + " (" +
                            e.results[i].name + ") of @" + e.name +
                            " has shape " + shapeStr(result.shape) +
                            " but its destination " + shapeStr(to.shape);
                  return;
                }
                copyToRowMajor(static_cast<const char *>(result.data),
                               result.shape, strides, dtypeSize(result.dtype),
                               static_cast<char *>(to.data));
              });
  return error.empty();
}

} // namespace onebit
