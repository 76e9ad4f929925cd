//===- Executable.h - call compiled entry points on host tensors -*- C++ -*-===//
//
// What runs a compiled model, whichever way its code was produced: the
// entries' signatures and their packed entry points (`void (void **)`, one
// pointer per lowered argument and one to the results), with the checks
// that make a call safe: element types, shapes, byte sizes, index ranges
// and KV-cache positions. The JIT (onebit/Runner/Runner.h) and the artifact
// loader (onebit/Runtime/Artifact.h) both produce one. Plain C++: no MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_RUNTIME_EXECUTABLE_H
#define ONEBIT_RUNTIME_EXECUTABLE_H

#include "onebit/Support/HostTensor.h"

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace onebit {

/// A dynamic dimension in a TensorSignature (MLIR's ShapedType::kDynamic).
inline constexpr int64_t kDynamicDim = std::numeric_limits<int64_t>::min();
inline bool isDynamicDim(int64_t d) { return d == kDynamicDim; }

/// One argument or result of an entry: its element type and shape
/// (kDynamicDim for dynamic dims).
struct TensorSignature {
  DType dtype;
  std::vector<int64_t> shape;
  std::string name; ///< from an `onebit.name` attribute, or argN / resultN
  /// Integer inputs that index a tensor (the ONNX importer's
  /// `onebit.index_bound` / `onebit.index_min` / `onebit.index_user` argument
  /// attributes): run() rejects elements outside [indexMin, indexBound).
  bool hasIndexRange = false;
  int64_t indexMin = 0, indexBound = 0;
  std::string indexUser; ///< the op that reads them, for the message
  std::string str() const;
};

/// A tensor the caller owns, passed without a copy: `data` holds `bytes`
/// bytes, row-major. Results tied to an input are written into it.
struct TensorRef {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  void *data = nullptr;
  size_t bytes = 0;
};

/// Constants a GPU model keeps in device memory (onebit-gpu-resident-
/// constants): copied once when the model is loaded, freed when it is
/// unloaded. All zero for CPU code.
struct DeviceConstants {
  int64_t uploads = 0;       ///< constants copied to the device so far
  int64_t uploadBytes = 0;   ///< bytes those copies moved
  int64_t residentBytes = 0; ///< bytes held in device memory now
};

class Executable {
public:
  /// A function that can be called: its name and signature.
  struct Entry {
    std::string name;
    /// `results` are what a call returns: results tied to an argument by
    /// `onebit.inplace_arg` are not among them (that argument is updated in
    /// place; its index is in `inplaceArgs`).
    std::vector<TensorSignature> inputs, results;
    std::vector<int> inplaceArgs;
    /// KV-cache entries (docs/design.md, "Generation with a KV cache"): the
    /// rank-0 start position (`onebit.cache_position`), the caches
    /// [L, B, C, ...] (`onebit.kv_cache`) and the token ids [B, T] (the
    /// argument with an index range). -1 / empty when absent.
    int positionArg = -1, tokensArg = -1;
    std::vector<int> cacheArgs;
    /// Inputs the compiled code takes by address, in one table
    /// (onebit-entry-arg-table): ascending input indices, each a tensor of
    /// static shape. The code's arguments are then the other inputs'
    /// descriptors, in order, and a table of inputs.size() addresses
    /// (entry k is input k's data). Empty: every input is a descriptor.
    std::vector<int> tableArgs;
  };
  /// The packed form of a compiled entry point.
  using PackedFn = void (*)(void **);

  virtual ~Executable();

  const std::vector<TensorSignature> &inputs() const {
    return entries_.front().inputs;
  }
  const std::vector<TensorSignature> &results() const {
    return entries_.front().results;
  }
  const std::string &entry() const { return entries_.front().name; }
  const std::vector<Entry> &entries() const { return entries_; }
  /// The entry named `name`, or null.
  const Entry *find(const std::string &name) const;

  /// Runs the (first) entry. Inputs must match the signature (count, element
  /// type, rank, static sizes) and index inputs must hold values in their
  /// range; the error names the argument (and the element) otherwise.
  bool run(const std::vector<HostTensor> &inputs,
           std::vector<HostTensor> &outputs, std::string &error);
  /// Runs the entry named `entry`. An entry that updates arguments in
  /// place (Entry::inplaceArgs) is refused: call runInPlace.
  bool run(const std::string &entry, const std::vector<HostTensor> &inputs,
           std::vector<HostTensor> &outputs, std::string &error);
  /// Runs `entry`, writing its in-place results into their inputs (a KV
  /// cache is updated where it is, without a copy); `outputs` receives the
  /// other results. A KV-cache entry's position must satisfy
  /// 0 <= pos and pos + T <= C for every cache, which must have the token
  /// ids' batch size.
  bool runInPlace(const std::string &entry, std::vector<HostTensor> &inputs,
                  std::vector<HostTensor> &outputs, std::string &error);
  /// The same on tensors the caller owns (the C API): `outputs` receives
  /// the results, allocated by the executable.
  bool runRefs(const Entry &entry, const std::vector<TensorRef> &inputs,
               std::vector<HostTensor> &outputs, std::string &error);
  /// The same, writing the results into `outputs`, memory the caller owns
  /// (one per result, of its element type and shape; e.g. pieces of one
  /// buffer): no host tensor is allocated for them. Inputs tied to
  /// results (Entry::inplaceArgs) are updated in place as with runInPlace.
  bool runRefsInto(const Entry &entry, const std::vector<TensorRef> &inputs,
                   const std::vector<TensorRef> &outputs, std::string &error);

  /// The device copies of the model's constants (the counters the GPU
  /// pipeline's load constructor keeps); zeros where there are none.
  virtual DeviceConstants deviceConstants() const { return {}; }

  /// Memory for state that compiled code keeps between calls and updates
  /// in place (a KV cache): `bytes` zero bytes where the code reads them,
  /// host memory here, device memory for a GPU model (whose entries take
  /// their `onebit.kv_cache` arguments in device memory; docs/gpu.md).
  /// Null with `error` set when it cannot be had. Release with freeState.
  virtual void *allocateState(size_t bytes, std::string &error);
  virtual void freeState(void *state);
  /// Copies `bytes` from host memory into state memory from allocateState,
  /// or back (on a GPU model: an upload, a download). False with `error`
  /// set when the copy fails or this executable cannot copy its state.
  virtual bool writeState(void *state, const void *src, size_t bytes,
                          std::string &error);
  virtual bool readState(const void *state, void *dst, size_t bytes,
                         std::string &error);
  /// Whether the entries take the arguments they update in place in device
  /// memory (a GPU model: KV caches, a train step's parameters and
  /// moments). Then runInPlace and the C API's run, whose tensors are host
  /// memory, refuse such entries: a GPU model generates through Generator,
  /// which holds its caches as state memory, and trains through the
  /// training session, which holds its state the same way (runRefs).
  virtual bool stateOnDevice() const { return false; }

protected:
  /// `freeResult` releases the buffers compiled code returns (the kernel
  /// library's allocator on the CPU, managed memory on a GPU).
  explicit Executable(void (*freeResult)(void *)) : freeResult_(freeResult) {}

  std::vector<Entry> entries_;
  /// The packed entry points, one per entry.
  std::vector<PackedFn> packed_;
  /// Each entry's deallocator of results, when they differ from the one
  /// given to the constructor (an artifact records it per entry); empty:
  /// every entry uses that one.
  std::vector<void (*)(void *)> entryFreeResult_;

private:
  bool invokeHost(const Entry &e, const std::vector<HostTensor> &inputs,
                  std::vector<HostTensor> &outputs, std::string &error);
  /// Checks `inputs` against `e` and calls it; `resultDesc` receives the
  /// results' memref descriptors.
  bool callRefs(const Entry &e, const std::vector<TensorRef> &inputs,
                std::vector<int64_t> &resultDesc, std::string &error);
  /// Hands each result of a call (its data, shape and element strides) to
  /// `take`, then frees the buffers the call allocated.
  void takeResults(const Entry &e, const std::vector<TensorRef> &inputs,
                   const std::vector<int64_t> &resultDesc,
                   const std::function<void(size_t, const TensorRef &,
                                            const int64_t *strides)> &take);

  void (*freeResult_)(void *);
};

} // namespace onebit

#endif // ONEBIT_RUNTIME_EXECUTABLE_H
