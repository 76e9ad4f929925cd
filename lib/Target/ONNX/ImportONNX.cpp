//===- ImportONNX.cpp - ONNX model loading, weights and the import driver -===//
//
// Parses the ModelProto, applies --input-shape and ONNX shape inference,
// turns initializers into dense_resource constants without copying their
// bytes (the blobs keep the parsed model or the mapped external data file
// alive), and converts the nodes in graph order.
//
//===----------------------------------------------------------------------===//

#include "onebit/Target/ONNX/ImportONNX.h"

#include "Folding.h"
#include "Importer.h"
#include "KVCache.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinDialect.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/Path.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#endif

#include <exception>
#include <memory>
#include <optional>

using namespace mlir;
using namespace onebit::onnx_import;

namespace {

/// Opens and maps external data files once per import; the mappings are
/// shared with the resource blobs that point into them. Also keeps the
/// weights' resource attributes by name, so that the entries of a KV-cache
/// import share one copy of each weight.
struct ExternalFiles {
  std::string baseDir;
  llvm::StringMap<std::shared_ptr<llvm::MemoryBuffer>> files;
  llvm::StringMap<ElementsAttr> resources;
};

/// Returns the whole pages of [data, data + size), which lie in a read-only
/// file mapping, to the kernel (they are reloaded from the file if read
/// again), so a weight that was read once does not stay in the resident set.
void dropMappedPages(void *data, size_t size) {
#if defined(__unix__) || defined(__APPLE__)
  uintptr_t page = llvm::sys::Process::getPageSizeEstimate();
  uintptr_t begin = (uintptr_t(data) + page - 1) & ~(page - 1);
  uintptr_t end = (uintptr_t(data) + size) & ~(page - 1);
  if (end > begin)
    (void)::madvise(reinterpret_cast<void *>(begin), end - begin,
                    MADV_DONTNEED);
#else
  (void)data;
  (void)size;
#endif
}

int64_t byteWidth(Type et) {
  return et.isInteger(1) ? 1 : et.getIntOrFloatBitWidth() / 8;
}

/// Resolves an external data location inside the model folder.
FailureOr<std::shared_ptr<llvm::MemoryBuffer>>
openExternal(ExternalFiles &ext, const onnx::TensorProto &t, StringRef location,
             Importer &im) {
  auto fail = [&](const Twine &why) {
    im.error() << "initializer '" << t.name() << "': external data location '"
               << location << "' " << why;
    return failure();
  };
  if (ext.baseDir.empty())
    return fail("cannot be resolved: the model was not loaded from a file");
  if (location.empty())
    return fail("is empty");
  if (llvm::sys::path::is_absolute(location) || location.starts_with("/") ||
      location.starts_with("\\"))
    return fail("is an absolute path; it must be relative to the model folder");
  for (auto it = llvm::sys::path::begin(location),
            e = llvm::sys::path::end(location);
       it != e; ++it)
    if (*it == "..")
      return fail("contains '..'; it must stay inside the model folder");
  SmallString<256> path(ext.baseDir);
  llvm::sys::path::append(path, location);
  SmallString<256> realBase, realPath;
  if (llvm::sys::fs::real_path(ext.baseDir, realBase) ||
      llvm::sys::fs::real_path(path, realPath))
    return fail("does not name an existing file");
  if (!StringRef(realPath).starts_with(realBase) ||
      realPath.size() <= realBase.size() ||
      !llvm::sys::path::is_separator(realPath[realBase.size()]))
    return fail("resolves (through a symbolic link) to '" + realPath +
                "' outside the model folder");
  auto &slot = ext.files[realPath];
  if (!slot) {
    auto buf = llvm::MemoryBuffer::getFile(realPath, /*IsText=*/false,
                                           /*RequiresNullTerminator=*/false);
    if (!buf)
      return fail("cannot be read: " + buf.getError().message());
    slot = std::move(*buf);
  }
  return slot;
}

/// Calls `fn` with the typed repeated field that holds `t`'s values when it
/// has no raw data (ONNX packs f16/bf16 bits, bools and small ints into
/// int32_data, uint32 into uint64_data).
template <typename Fn> auto visitTypedField(const onnx::TensorProto &t, Fn fn) {
  switch (t.data_type()) {
  case onnx::TensorProto::FLOAT:
    return fn(t.float_data());
  case onnx::TensorProto::DOUBLE:
    return fn(t.double_data());
  case onnx::TensorProto::INT64:
    return fn(t.int64_data());
  case onnx::TensorProto::UINT32:
  case onnx::TensorProto::UINT64:
    return fn(t.uint64_data());
  default:
    return fn(t.int32_data());
  }
}

/// The element type, element count and byte count of `t`'s shape. The counts
/// must not wrap: a wrapped count could match the bytes present while the
/// shape claims far more.
LogicalResult tensorSize(Importer &im, const onnx::TensorProto &t, Type &et,
                         int64_t &n, int64_t &bytes) {
  et = elementTypeFor(im.ctx, t.data_type());
  if (!et) {
    im.error() << "initializer '" << t.name() << "' has unsupported data type "
               << t.data_type();
    return failure();
  }
  n = 1;
  bytes = byteWidth(et);
  for (int64_t d : t.dims()) {
    if (d < 0) {
      im.error() << "initializer '" << t.name() << "' has a negative dim";
      return failure();
    }
    if (llvm::MulOverflow(n, d, n) || llvm::MulOverflow(bytes, d, bytes)) {
      im.error() << "initializer '" << t.name()
                 << "' has a shape whose size overflows 64 bits";
      return failure();
    }
  }
  return success();
}

/// Checks that an in-file initializer holds the data its shape needs, before
/// libonnx's shape inference reads it: its Range inference dereferenced the
/// missing element of an INT64 initializer whose data sat in another field.
/// The messages are importTensor's.
LogicalResult checkInitializerData(Importer &im, const onnx::TensorProto &t) {
  Type et;
  int64_t n, expected;
  if (failed(tensorSize(im, t, et, n, expected)))
    return failure();
  if (t.data_location() == onnx::TensorProto::EXTERNAL)
    return success(); // libonnx does not read external data
  int64_t got = t.has_raw_data() ? int64_t(t.raw_data().size())
                                 : visitTypedField(t, [](const auto &field) {
                                     return int64_t(field.size());
                                   });
  if (got == (t.has_raw_data() ? expected : n))
    return success();
  SmallVector<int64_t> shape(t.dims().begin(), t.dims().end());
  im.error() << "initializer '" << t.name() << "' holds " << got << " "
             << (t.has_raw_data() ? "bytes" : "elements") << " but its shape "
             << RankedTensorType::get(shape, et) << " needs "
             << (t.has_raw_data() ? expected : n);
  return failure();
}

/// Builds the constant for initializer (or Constant value) `t`.
FailureOr<Value> importTensor(Importer &im, const onnx::TensorProto &t,
                              StringRef key, ExternalFiles &ext,
                              const std::shared_ptr<onnx::ModelProto> &owner,
                              bool preferDense) {
  MLIRContext *ctx = im.ctx;
  Type et;
  int64_t n, expected;
  if (failed(tensorSize(im, t, et, n, expected)))
    return failure();
  SmallVector<int64_t> shape(t.dims().begin(), t.dims().end());
  int64_t bw = byteWidth(et);
  auto type = RankedTensorType::get(shape, et);

  ArrayRef<char> bytes;
  std::shared_ptr<void> keep = owner;
  std::vector<char> converted; // typed fields that need narrowing
  bool mapped = false;         // bytes lie in a read-only file mapping
  auto sizeError = [&](int64_t got, StringRef what) {
    im.error() << "initializer '" << t.name() << "' holds " << got << " "
               << what << " but its shape " << type << " needs "
               << (what == "bytes" ? expected : n);
    return failure();
  };
  if (t.data_location() == onnx::TensorProto::EXTERNAL) {
    std::string location;
    int64_t offset = 0, length = -1;
    for (const auto &kv : t.external_data()) {
      if (kv.key() == "location")
        location = kv.value();
      else if (kv.key() == "offset" || kv.key() == "length") {
        int64_t v = 0;
        if (StringRef(kv.value()).getAsInteger(10, v) || v < 0) {
          im.error() << "initializer '" << t.name() << "' has invalid "
                     << kv.key() << " '" << kv.value() << "'";
          return failure();
        }
        (kv.key() == "offset" ? offset : length) = v;
      }
    }
    auto file = openExternal(ext, t, location, im);
    if (failed(file))
      return failure();
    int64_t size = (*file)->getBufferSize();
    if (length < 0)
      length = size - offset;
    if (offset > size || length > size - offset) {
      im.error() << "initializer '" << t.name() << "': external data range ["
                 << offset << ", " << offset + length << ") exceeds file '"
                 << location << "' of " << size << " bytes";
      return failure();
    }
    if (length != expected)
      return sizeError(length, "bytes");
    bytes = ArrayRef<char>((*file)->getBufferStart() + offset, length);
    keep = *file;
    mapped = (*file)->getBufferKind() == llvm::MemoryBuffer::MemoryBuffer_MMap;
  } else if (t.has_raw_data()) {
    if (int64_t(t.raw_data().size()) != expected)
      return sizeError(t.raw_data().size(), "bytes");
    bytes = ArrayRef<char>(t.raw_data().data(), t.raw_data().size());
  } else {
    auto fromField = [&](const auto &field) {
      using T = std::decay_t<decltype(*field.data())>;
      if (int64_t(field.size()) != n && !(field.size() == 1 && n == 1))
        return sizeError(field.size(), "elements");
      if (sizeof(T) == size_t(bw)) {
        bytes = ArrayRef<char>(reinterpret_cast<const char *>(field.data()),
                               field.size() * sizeof(T));
        return success();
      }
      // int32_data carries f16/bf16 bits, bools and int8 one per element.
      converted.resize(n * bw);
      for (int64_t i = 0; i < n; ++i) {
        uint64_t v = uint64_t(field.Get(i));
        std::memcpy(converted.data() + i * bw, &v, bw);
      }
      bytes = ArrayRef<char>(converted.data(), converted.size());
      return success();
    };
    LogicalResult ok = visitTypedField(t, fromField);
    if (failed(ok))
      return failure();
  }

  Location loc = NameLoc::get(
      StringAttr::get(ctx, t.name().empty() ? key : StringRef(t.name())),
      im.fileLoc());
  ElementsAttr attr;
  bool aligned = (uintptr_t(bytes.data()) % bw) == 0;
  // Scalars and tiny tensors stay inline: folding tensor.extract of a
  // dense_resource crashes MLIR 22's canonicalizer (Range's start/limit).
  if (et.isInteger(1) || preferDense || n <= 1) {
    if (et.isInteger(1)) {
      SmallVector<bool> bits;
      for (char c : bytes)
        bits.push_back(c != 0);
      attr = DenseElementsAttr::get(type, bits);
    } else {
      attr = DenseElementsAttr::getFromRawBuffer(type, bytes);
    }
  } else if (ElementsAttr seen = ext.resources.lookup(key);
             seen && seen.getType() == type) {
    attr = seen;
  } else {
    AsmResourceBlob blob;
    if (converted.empty() && aligned) {
      // Released (the weight rewritten, or the context gone): the mapping's
      // pages of this tensor leave the process's memory; the file is
      // unchanged, so anything else reading them faults them back in.
      blob = UnmanagedAsmResourceBlob::allocateWithAlign(
          bytes, bw, [keep, mapped](void *data, size_t size, size_t) mutable {
            if (mapped)
              dropMappedPages(data, size);
            keep.reset();
          });
    } else {
      blob = HeapAsmResourceBlob::allocateAndCopyWithAlign(bytes, bw);
    }
    attr = DenseResourceElementsAttr::get(type, key, std::move(blob));
    ext.resources[key] = attr;
  }
  Value v = arith::ConstantOp::create(im.b, loc, attr);
  // Small integer tensors feed shape computations: remember their values.
  if (isa<IntegerType>(et) && type.getRank() <= 1 && n <= 64 &&
      !et.isInteger(1)) {
    KnownInts k;
    k.shape.assign(shape.begin(), shape.end());
    k.elemType = et;
    for (int64_t i = 0; i < n; ++i) {
      int64_t x = 0;
      if (bw == 8) {
        std::memcpy(&x, bytes.data() + i * 8, 8);
      } else if (bw == 4) {
        int32_t y;
        std::memcpy(&y, bytes.data() + i * 4, 4);
        x = isUnsignedType(t.data_type()) ? int64_t(uint32_t(y)) : y;
      } else if (bw == 2) {
        int16_t y;
        std::memcpy(&y, bytes.data() + i * 2, 2);
        x = isUnsignedType(t.data_type()) ? int64_t(uint16_t(y)) : y;
      } else {
        x = isUnsignedType(t.data_type()) ? int64_t(uint8_t(bytes[i]))
                                          : int64_t(int8_t(bytes[i]));
      }
      k.elts.push_back({x, Value(), x >= 0});
    }
    im.setKnown(t.name().empty() ? key : StringRef(t.name()), std::move(k));
  }
  return v;
}

FailureOr<RankedTensorType> typeOf(Importer &im, const onnx::ValueInfoProto &vi,
                                   bool required) {
  if (!vi.type().has_tensor_type()) {
    if (required)
      im.error() << "value '" << vi.name() << "' is not a tensor";
    return failure();
  }
  const auto &tt = vi.type().tensor_type();
  Type et = elementTypeFor(im.ctx, tt.elem_type());
  if (!et) {
    if (required)
      im.error() << "value '" << vi.name() << "' has unsupported element type "
                 << tt.elem_type();
    return failure();
  }
  if (!tt.has_shape()) {
    if (required)
      im.error() << "value '" << vi.name()
                 << "' has no shape (its rank must be known)";
    return failure();
  }
  SmallVector<int64_t> shape;
  for (const auto &d : tt.shape().dim())
    shape.push_back(d.has_dim_value() && d.dim_value() >= 0
                        ? d.dim_value()
                        : ShapedType::kDynamic);
  return RankedTensorType::get(shape, et);
}

/// Whether libonnx 1.12's inference function for `n` may index a shape with
/// an unchecked attribute. LayerNormalization's writes Mean's dim `axis` after
/// adding the rank to a negative axis, so axis -3 on a rank-2 input writes
/// dim -1 of a protobuf array.
bool hasUnsafeInference(const onnx::NodeProto &n) {
  return n.op_type() == "LayerNormalization" && n.output_size() > 1;
}

/// Runs ONNX shape inference, which reports problems by throwing. Nodes with
/// unsafe inference stand in, for inference only, as nodes with the same
/// output types whose rules are safe: Y = Identity(X), and Identity of a fresh
/// shapeless graph input for the other outputs, so their consumers see an
/// unknown shape. The converters check the attributes themselves.
std::string inferShapes(onnx::ModelProto &model) {
  onnx::GraphProto *graph = model.mutable_graph();
  std::optional<google::protobuf::RepeatedPtrField<onnx::NodeProto>> original;
  int addedInputs = 0;
  if (llvm::any_of(graph->node(), hasUnsafeInference)) {
    original = graph->node();
    google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
    for (const onnx::NodeProto &n : *original) {
      if (!hasUnsafeInference(n)) {
        *nodes.Add() = n;
        continue;
      }
      for (int i = 0; i < n.output_size(); ++i) {
        if (n.output(i).empty())
          continue;
        onnx::NodeProto *id = nodes.Add();
        id->set_op_type("Identity");
        id->set_name(n.name());
        id->add_output(n.output(i));
        if (i == 0) {
          id->add_input(n.input_size() ? n.input(0) : "");
          continue;
        }
        std::string fresh = "onebit.unknown." + std::to_string(addedInputs++);
        onnx::ValueInfoProto *in = graph->add_input();
        in->set_name(fresh);
        int64_t stash = onnx::TensorProto::FLOAT;
        for (const auto &a : n.attribute())
          if (a.name() == "stash_type")
            stash = a.i();
        in->mutable_type()->mutable_tensor_type()->set_elem_type(int(stash));
        id->add_input(fresh);
      }
    }
    graph->mutable_node()->Swap(&nodes);
  }
  std::string error;
  try {
    onnx::ShapeInferenceOptions opts(/*check_type=*/false, /*error_mode=*/0,
                                     /*enable_data_propagation=*/true);
    onnx::shape_inference::InferShapes(
        model, onnx::OpSchemaRegistry::Instance(), opts);
  } catch (const std::exception &e) {
    error = e.what();
  }
  if (original) {
    graph->mutable_node()->Swap(&*original);
    for (int i = 0; i < addedInputs; ++i)
      graph->mutable_input()->RemoveLast();
  }
  return error;
}

/// The ai.onnx opset the model imports; failure (reported) when it imports
/// none, or when it breaks its IR version's rule on initializers. An opset
/// outside 13-21 is warned about and imported anyway.
FailureOr<int64_t> defaultDomainOpset(const onnx::ModelProto &model,
                                      StringRef fileName, Location fileLoc) {
  // Before IR version 4 every initializer had to be listed as a graph input
  // too, and libonnx's shape inference still relies on it for such models:
  // an initializer that is not an input reaches an inference function
  // without a type (a SEGV inside libonnx; test/Target/ONNX/Inputs/fuzz/
  // shape-inference-old-ir.onnx).
  if (model.ir_version() < 4) {
    llvm::StringSet<> inputs;
    for (const auto &in : model.graph().input())
      inputs.insert(in.name());
    for (const auto &init : model.graph().initializer())
      if (!inputs.contains(init.name())) {
        emitError(fileLoc) << fileName << ": initializer '" << init.name()
                           << "' is not a graph input, which ONNX IR version "
                           << model.ir_version()
                           << " requires (from IR version 4 on it may not be)";
        return failure();
      }
  }
  int64_t opset = -1;
  for (const auto &imp : model.opset_import())
    if (imp.domain().empty() || imp.domain() == "ai.onnx")
      opset = imp.version();
  if (opset < 0) {
    emitError(fileLoc) << fileName << ": the model imports no ai.onnx opset";
    return failure();
  }
  if (opset < 13 || opset > 21)
    emitWarning(fileLoc) << fileName << ": opset " << opset
                         << " is outside the supported range 13-21";
  return opset;
}

/// --input-shape: fixes the dims of graph inputs before inference.
LogicalResult applyInputShapes(onnx::GraphProto &graph,
                               const onebit::ONNXImportOptions &options,
                               StringRef fileName, Location fileLoc) {
  llvm::StringSet<> seen;
  for (auto &in : *graph.mutable_input()) {
    auto it = options.inputShapes.find(in.name());
    if (it == options.inputShapes.end())
      continue;
    seen.insert(in.name());
    auto *shape = in.mutable_type()->mutable_tensor_type()->mutable_shape();
    if (shape->dim_size() != 0 && shape->dim_size() != int(it->second.size())) {
      emitError(fileLoc) << fileName << ": --input-shape for '" << in.name()
                         << "' has " << it->second.size()
                         << " dims but the input has rank "
                         << shape->dim_size();
      return failure();
    }
    shape->clear_dim();
    for (int64_t d : it->second)
      shape->add_dim()->set_dim_value(d);
  }
  for (const auto &kv : options.inputShapes)
    if (!seen.contains(kv.getKey())) {
      emitError(fileLoc) << fileName << ": --input-shape names '" << kv.getKey()
                         << "', which is not a graph input";
      return failure();
    }
  return success();
}

/// Every value must be defined before use; libonnx's shape inference
/// dereferences undefined inputs, so this runs before it.
LogicalResult checkDefinedBeforeUse(const onnx::GraphProto &graph,
                                    int64_t opset, StringRef fileName,
                                    Location fileLoc) {
  llvm::StringSet<> defined;
  for (const auto &in : graph.input())
    defined.insert(in.name());
  for (const auto &t : graph.initializer())
    defined.insert(t.name());
  for (const auto &n : graph.node()) {
    for (const std::string &in : n.input())
      if (!in.empty() && !defined.contains(in)) {
        emitError(fileLoc) << fileName << ": node '" << n.name() << "' ("
                           << n.op_type() << ", opset " << opset << "): input '"
                           << in
                           << "' is not a graph input, an initializer or the "
                              "output of an earlier node";
        return failure();
      }
    for (const std::string &out : n.output())
      defined.insert(out);
  }
  for (const auto &out : graph.output())
    if (!defined.contains(out.name())) {
      emitError(fileLoc) << fileName << ": graph output '" << out.name()
                         << "' is never defined";
      return failure();
    }
  return success();
}

/// What libonnx's shape inference is not safe on, refused before it runs.
LogicalResult checkBeforeInference(Importer &im, const onnx::GraphProto &graph,
                                   const llvm::StringSet<> &initNames) {
  // Inference runs on every node and is not safe on malformed ones
  // (MaxUnpool and the conv/pool ops crash on bad attributes), so only ops
  // the importer converts get that far.
  for (const auto &n : graph.node())
    if (failed(im.checkSupported(n)))
      return failure();
  im.node = nullptr;
  // Inference also dereferences the types of graph inputs and initializers
  // (a Shape of an input with an empty type crashed it): those the importer
  // would refuse later are refused now.
  for (const auto &in : graph.input())
    if (!initNames.contains(in.name()) &&
        failed(typeOf(im, in, /*required=*/true)))
      return failure();
  for (const auto &t : graph.initializer())
    if (failed(checkInitializerData(im, t)))
      return failure();
  // Constant nodes' tensors feed inference's data propagation the same way
  // (Range read the missing element of an empty INT64 Constant).
  for (const auto &n : graph.node())
    if (n.op_type() == "Constant")
      for (const auto &a : n.attribute())
        if (a.name() == "value" && a.has_t()) {
          im.node = &n;
          if (failed(checkInitializerData(im, a.t())))
            return failure();
        }
  im.node = nullptr;
  return success();
}

/// Creates the entry function at the end of `module`: one argument per graph
/// input that is not an initializer, named and marked unsigned as the graph
/// says. Leaves the builder at the start of its body.
FailureOr<func::FuncOp> createEntryFunction(Importer &im, ModuleOp module,
                                            const onnx::GraphProto &graph,
                                            const llvm::StringSet<> &initNames,
                                            StringRef entryName,
                                            Location fileLoc) {
  im.b.setInsertionPointToEnd(module.getBody());
  SmallVector<Type> argTypes;
  SmallVector<const onnx::ValueInfoProto *> args;
  for (const auto &in : graph.input()) {
    if (initNames.contains(in.name()))
      continue;
    auto t = typeOf(im, in, /*required=*/true);
    if (failed(t))
      return failure();
    argTypes.push_back(*t);
    args.push_back(&in);
  }
  auto func = func::FuncOp::create(im.b, fileLoc, entryName,
                                   im.b.getFunctionType(argTypes, {}));
  Block *entry = func.addEntryBlock();
  for (auto [i, in] : llvm::enumerate(args)) {
    im.set(in->name(), entry->getArgument(i));
    // Signless in the IR; the attribute tells runners the .npy dtype.
    if (isUnsignedType(in->type().tensor_type().elem_type())) {
      im.unsignedValues.insert(in->name());
      func.setArgAttr(i, "onebit.unsigned", im.b.getUnitAttr());
    }
    func.setArgAttr(i, "onebit.name", im.b.getStringAttr(in->name()));
  }
  im.b.setInsertionPointToStart(entry);
  return func;
}

/// Converts a node the caller handles itself: true when it did, false to
/// convert it as usual.
using NodeHook = llvm::function_ref<FailureOr<bool>(const onnx::NodeProto &)>;

/// Converts the initializers, then the nodes in graph order (those `hook`
/// takes through it).
LogicalResult importGraphBody(Importer &im, const onnx::GraphProto &graph,
                              ExternalFiles &ext,
                              const std::shared_ptr<onnx::ModelProto> &model,
                              Location fileLoc, NodeHook hook = nullptr) {
  im.loc = fileLoc;
  for (const auto &t : graph.initializer()) {
    auto v = importTensor(im, t, t.name(), ext, model, /*preferDense=*/false);
    if (failed(v))
      return failure();
    im.set(t.name(), *v);
    if (isUnsignedType(t.data_type()))
      im.unsignedValues.insert(t.name());
  }
  for (const auto &n : graph.node()) {
    if (n.op_type() == "Constant" && n.domain().empty()) {
      im.node = &n;
      im.loc = NameLoc::get(
          im.b.getStringAttr(n.name().empty() ? n.output(0) : n.name()),
          fileLoc);
      if (const onnx::AttributeProto *a = im.attr("value")) {
        onnx::TensorProto t = a->t();
        t.set_name(n.output(0));
        auto v = importTensor(im, t, n.output(0), ext, nullptr,
                              /*preferDense=*/true);
        if (failed(v))
          return failure();
        im.set(n.output(0), *v);
        continue;
      }
    }
    if (hook) {
      FailureOr<bool> took = hook(n);
      if (failed(took))
        return failure();
      if (*took)
        continue;
    }
    if (failed(im.convertNode(n)))
      return failure();
  }
  return success();
}

/// Returns the graph outputs from `func` and gives it their types, names and
/// signedness.
LogicalResult returnGraphOutputs(Importer &im, func::FuncOp func,
                                 const onnx::GraphProto &graph,
                                 Location fileLoc) {
  SmallVector<Value> results;
  im.node = nullptr;
  for (const auto &out : graph.output()) {
    auto v = im.get(out.name());
    if (failed(v))
      return failure();
    // Shape inference may know more than the converters derived.
    Value r = *v;
    if (auto t = typeOf(im, out, /*required=*/false); succeeded(t)) {
      auto rt = cast<RankedTensorType>(r.getType());
      if (t->getElementType() == rt.getElementType() &&
          t->getRank() == rt.getRank() &&
          t->getNumDynamicDims() < rt.getNumDynamicDims() &&
          succeeded(verifyCompatibleShape(*t, rt)))
        r = tensor::CastOp::create(im.b, fileLoc, *t, r);
    }
    results.push_back(r);
  }
  func::ReturnOp::create(im.b, fileLoc, results);
  func.setType(im.b.getFunctionType(func.getArgumentTypes(),
                                    TypeRange(ValueRange(results))));
  for (auto [i, out] : llvm::enumerate(graph.output())) {
    func.setResultAttr(i, "onebit.name", im.b.getStringAttr(out.name()));
    // The declared type decides; without one, what the converters derived.
    int declared = out.type().tensor_type().elem_type();
    Type et = cast<ShapedType>(results[i].getType()).getElementType();
    if ((declared ? isUnsignedType(declared)
                  : im.unsignedValues.contains(out.name())) &&
        et.isInteger() && !et.isInteger(1))
      func.setResultAttr(i, "onebit.unsigned", im.b.getUnitAttr());
  }
  return success();
}

/// The entries of a with-past import (docs/design.md, "Generation with a KV
/// cache").
enum class CacheEntry { Full, Prefill, Decode };

/// Sets the names of `func`'s arguments and results and, in a KV-cache
/// entry, the position, the caches and the results tied to them.
void setCacheEntryAttributes(Importer &im, func::FuncOp func,
                             const KVCachePlan &plan, bool cached) {
  func.setArgAttr(0, "onebit.name", im.b.getStringAttr(plan.tokens));
  func.setResultAttr(0, "onebit.name", im.b.getStringAttr(plan.logits));
  if (!cached)
    return;
  func.setArgAttr(1, "onebit.name", im.b.getStringAttr("pos"));
  func.setArgAttr(1, "onebit.cache_position", im.b.getUnitAttr());
  const char *names[] = {"k_cache", "v_cache"};
  for (auto [i, name] : llvm::enumerate(names)) {
    func.setArgAttr(2 + i, "onebit.name", im.b.getStringAttr(name));
    func.setArgAttr(2 + i, "onebit.kv_cache", im.b.getUnitAttr());
    func.setResultAttr(1 + i, "onebit.name", im.b.getStringAttr(name));
    func.setResultAttr(1 + i, "onebit.inplace_arg",
                       im.b.getI64IntegerAttr(2 + i));
  }
}

/// Imports the graph as one entry of a with-past import: @main (`name`) is
/// the full forward with an empty past, @prefill and @decode (one token)
/// read and write the caches from position `pos` and return the last
/// position's logits.
LogicalResult buildCacheEntry(Importer &im, ModuleOp module,
                              const onnx::GraphProto &graph,
                              const KVCachePlan &plan, CacheEntry kind,
                              StringRef name, ExternalFiles &ext,
                              const std::shared_ptr<onnx::ModelProto> &model,
                              Location fileLoc) {
  im.b.setInsertionPointToEnd(module.getBody());
  im.loc = fileLoc;
  const onnx::ValueInfoProto *tokens = nullptr;
  for (const auto &in : graph.input())
    if (in.name() == plan.tokens)
      tokens = &in;
  FailureOr<RankedTensorType> idsType = typeOf(im, *tokens, /*required=*/true);
  if (failed(idsType))
    return failure();
  int64_t batch = idsType->getDimSize(0);
  if (kind == CacheEntry::Decode)
    *idsType = RankedTensorType::get({batch, 1}, idsType->getElementType());
  const bool cached = kind != CacheEntry::Full;
  auto f32 = im.b.getF32Type();
  auto cacheType = RankedTensorType::get(
      {plan.layers, batch, ShapedType::kDynamic, plan.kvHeads, plan.headDim},
      f32);
  SmallVector<Type> argTypes{*idsType};
  if (cached)
    argTypes.append(
        {RankedTensorType::get({}, im.b.getI64Type()), cacheType, cacheType});
  auto func = func::FuncOp::create(im.b, fileLoc, name,
                                   im.b.getFunctionType(argTypes, {}));
  Block *entry = func.addEntryBlock();
  im.b.setInsertionPointToStart(entry);
  Value ids = entry->getArgument(0);
  im.set(plan.tokens, ids);
  CacheEntryState st;
  if (cached) {
    Value pos = tensor::ExtractOp::create(im.b, fileLoc, entry->getArgument(1),
                                          ValueRange{});
    st.pos =
        arith::IndexCastOp::create(im.b, fileLoc, im.b.getIndexType(), pos);
    st.caches[0] = entry->getArgument(2);
    st.caches[1] = entry->getArgument(3);
  }
  for (const PastInput &p : plan.past)
    im.set(p.name, pastPlaceholder(im, plan, ids, st));
  // The inputs an HF export takes besides the ids, made for one sequence.
  for (const auto &in : graph.input()) {
    bool mask = !plan.attentionMask.empty() && in.name() == plan.attentionMask;
    if (!mask && (plan.positionIds.empty() || in.name() != plan.positionIds))
      continue;
    Type et = elementTypeFor(im.ctx, in.type().tensor_type().elem_type());
    im.set(in.name(), mask ? attentionMaskOfOnes(im, et, ids, st)
                           : positionIdsFrom(im, et, ids, st));
  }
  // The head reads the last position alone in a cache entry (which returns
  // only that position's logits): a MatMul that makes the logits from
  // [batch, seq, hidden] states no other node reads gets their last row.
  // That is a fifth of SmolLM2's prefill compute.
  int64_t headInputUsers = 0;
  const onnx::NodeProto *head = nullptr;
  for (const onnx::NodeProto &n : graph.node())
    if (n.op_type() == "MatMul" && n.domain().empty() && n.input_size() == 2 &&
        n.output_size() == 1 && n.output(0) == plan.logits)
      head = &n;
  if (head) {
    for (const onnx::NodeProto &n : graph.node())
      for (const std::string &in : n.input())
        headInputUsers += in == head->input(0);
    for (const auto &out : graph.output())
      headInputUsers += out.name() == head->input(0);
  }
  auto hook = [&](const onnx::NodeProto &n) -> FailureOr<bool> {
    if (cached && &n == head && headInputUsers == 1) {
      FailureOr<Value> x = im.get(n.input(0));
      if (failed(x))
        return failure();
      if (auto xt = dyn_cast<RankedTensorType>(x->getType());
          xt && xt.getRank() == 3) {
        OpFoldResult last =
            arithOFR(im, IOp::Sub, im.dim(*x, 1), im.b.getIndexAttr(1));
        SmallVector<OpFoldResult> sizes{im.dim(*x, 0), im.b.getIndexAttr(1),
                                        im.dim(*x, 2)};
        im.set(n.input(0),
               tensor::ExtractSliceOp::create(
                   im.b, im.loc,
                   Importer::tensorType(sizes, xt.getElementType()), *x,
                   SmallVector<OpFoldResult>{im.b.getIndexAttr(0), last,
                                             im.b.getIndexAttr(0)},
                   sizes, SmallVector<OpFoldResult>(3, im.b.getIndexAttr(1))));
      }
      return false; // converted as usual, from the last row
    }
    auto it = plan.pastOfConcat.find(&n);
    if (it == plan.pastOfConcat.end())
      return false;
    if (failed(im.checkSupported(n)) ||
        failed(convertCacheConcat(im, plan, plan.past[it->second], st)))
      return failure();
    return true;
  };
  if (failed(importGraphBody(im, graph, ext, model, fileLoc, hook)))
    return failure();

  im.node = nullptr;
  im.loc = fileLoc;
  FailureOr<Value> logitsOr = im.get(plan.logits);
  if (failed(logitsOr))
    return failure();
  Value logits = *logitsOr;
  auto lt = cast<RankedTensorType>(logits.getType());
  for (const auto &out : graph.output())
    if (out.name() == plan.logits)
      if (auto t = typeOf(im, out, /*required=*/false);
          succeeded(t) && t->getElementType() == lt.getElementType() &&
          t->getRank() == lt.getRank() &&
          t->getNumDynamicDims() < lt.getNumDynamicDims() &&
          succeeded(verifyCompatibleShape(*t, lt))) {
        logits = tensor::CastOp::create(im.b, fileLoc, *t, logits);
        lt = *t;
      }
  if (lt.getRank() != 3 || lt.getElementType() != f32) {
    emitError(fileLoc) << im.fileName << ": the logits output '" << plan.logits
                       << "' is " << lt
                       << "; a KV-cache entry needs [batch, seq, vocab] of f32";
    return failure();
  }
  SmallVector<Value> results{logits};
  if (cached) {
    // Only the last position's logits, as the GGUF importer's entries.
    OpFoldResult b = im.dim(logits, 0), v = im.dim(logits, 2);
    OpFoldResult last =
        arithOFR(im, IOp::Sub, im.dim(logits, 1), im.b.getIndexAttr(1));
    SmallVector<OpFoldResult> sizes{b, im.b.getIndexAttr(1), v};
    Value row = tensor::ExtractSliceOp::create(
        im.b, fileLoc, Importer::tensorType(sizes, f32), logits,
        SmallVector<OpFoldResult>{im.b.getIndexAttr(0), last,
                                  im.b.getIndexAttr(0)},
        sizes, SmallVector<OpFoldResult>(3, im.b.getIndexAttr(1)));
    results[0] = tensor::CollapseShapeOp::create(
        im.b, fileLoc, row, SmallVector<ReassociationIndices>{{0}, {1, 2}});
    results.append({st.caches[0], st.caches[1]});
  }
  func::ReturnOp::create(im.b, fileLoc, results);
  func.setType(im.b.getFunctionType(argTypes, TypeRange(ValueRange(results))));
  setCacheEntryAttributes(im, func, plan, cached);
  return success();
}

/// A with-past import: the full forward, @prefill and @decode, each from the
/// graph with its Concat(past, new) nodes rewritten (KVCache.h). Succeeds
/// with `recognised` false, emitting nothing, when the graph does not have
/// the with-past form and `options` do not require it.
LogicalResult importCacheEntries(ModuleOp module, const onnx::GraphProto &graph,
                                 const llvm::StringSet<> &initNames,
                                 const std::shared_ptr<onnx::ModelProto> &model,
                                 StringRef fileName, StringRef baseDir,
                                 int64_t opset,
                                 const onebit::ONNXImportOptions &options,
                                 Location fileLoc, bool &recognised) {
  std::string why;
  FailureOr<KVCachePlan> plan = findKVCache(graph, initNames, why);
  recognised = succeeded(plan);
  if (!recognised) {
    if (options.kvCache != onebit::ONNXKVCache::Required)
      return success();
    emitError(fileLoc) << fileName
                       << ": no KV cache onebit can recognise (a decoder "
                          "exported with past key/values): "
                       << why;
    return failure();
  }
  if (options.entryName == "prefill" || options.entryName == "decode") {
    emitError(fileLoc) << fileName << ": the entry name '" << options.entryName
                       << "' is taken by the KV-cache entries";
    return failure();
  }
  ExternalFiles ext{baseDir.str(), {}, {}};
  std::pair<CacheEntry, StringRef> entries[] = {
      {CacheEntry::Full, options.entryName},
      {CacheEntry::Prefill, "prefill"},
      {CacheEntry::Decode, "decode"}};
  for (auto [kind, name] : entries) {
    Importer im(module.getContext(), fileName.str(), opset);
    for (const auto &vi : graph.value_info())
      if (auto t = typeOf(im, vi, /*required=*/false); succeeded(t))
        im.inferred[vi.name()] = *t;
    if (failed(buildCacheEntry(im, module, graph, *plan, kind, name, ext, model,
                               fileLoc)))
      return failure();
  }
  return success();
}

OwningOpRef<ModuleOp> importModel(std::shared_ptr<onnx::ModelProto> model,
                                  StringRef fileName, StringRef baseDir,
                                  MLIRContext &context,
                                  const onebit::ONNXImportOptions &options) {
  DialectRegistry registry;
  onebit::registerONNXImportDialects(registry);
  context.appendDialectRegistry(registry);
  context.loadAllAvailableDialects();

  Location fileLoc = FileLineColLoc::get(&context, fileName, 0, 0);
  if (!model->has_graph()) {
    emitError(fileLoc) << fileName << ": the model has no graph";
    return nullptr;
  }
  FailureOr<int64_t> opset = defaultDomainOpset(*model, fileName, fileLoc);
  if (failed(opset))
    return nullptr;

  onnx::GraphProto *graph = model->mutable_graph();
  llvm::StringSet<> initNames;
  for (const auto &t : graph->initializer())
    initNames.insert(t.name());
  if (failed(applyInputShapes(*graph, options, fileName, fileLoc)) ||
      failed(checkDefinedBeforeUse(*graph, *opset, fileName, fileLoc)))
    return nullptr;
  Importer im(&context, fileName.str(), *opset);
  if (failed(checkBeforeInference(im, *graph, initNames)))
    return nullptr;
  if (options.inferShapes) {
    std::string err = inferShapes(*model);
    if (!err.empty()) {
      emitError(fileLoc) << fileName
                         << ": ONNX shape inference failed: " << err;
      return nullptr;
    }
  }
  for (const auto &vi : graph->value_info())
    if (auto t = typeOf(im, vi, /*required=*/false); succeeded(t))
      im.inferred[vi.name()] = *t;

  OwningOpRef<ModuleOp> module = ModuleOp::create(fileLoc);
  if (options.kvCache != onebit::ONNXKVCache::Off) {
    bool recognised = false;
    if (failed(importCacheEntries(*module, *graph, initNames, model, fileName,
                                  baseDir, *opset, options, fileLoc,
                                  recognised)))
      return nullptr;
    if (recognised)
      return module;
  }
  FailureOr<func::FuncOp> func = createEntryFunction(
      im, *module, *graph, initNames, options.entryName, fileLoc);
  if (failed(func))
    return nullptr;
  ExternalFiles ext{baseDir.str(), {}, {}};
  if (failed(importGraphBody(im, *graph, ext, model, fileLoc)) ||
      failed(returnGraphOutputs(im, *func, *graph, fileLoc)))
    return nullptr;
  return module;
}

std::shared_ptr<onnx::ModelProto> parseModel(StringRef bytes) {
  auto model = std::make_shared<onnx::ModelProto>();
  google::protobuf::io::ArrayInputStream raw(bytes.data(), int(bytes.size()));
  google::protobuf::io::CodedInputStream coded(&raw);
  coded.SetTotalBytesLimit(INT_MAX);
  if (!model->ParseFromCodedStream(&coded) || !coded.ConsumedEntireMessage())
    return nullptr;
  return model;
}

} // namespace

void onebit::registerONNXImportDialects(DialectRegistry &registry) {
  registry.insert<arith::ArithDialect, func::FuncDialect, linalg::LinalgDialect,
                  math::MathDialect, tensor::TensorDialect>();
}

std::string onebit::parseInputShapes(StringRef spec,
                                     ONNXImportOptions &options) {
  SmallVector<StringRef> items;
  spec.split(items, ',', -1, /*KeepEmpty=*/false);
  for (StringRef item : items) {
    auto [name, dimsStr] = item.rsplit('=');
    if (name.empty() || dimsStr.empty() || !item.contains('='))
      return ("expected name=DxDx..., got '" + item + "'").str();
    SmallVector<int64_t> dims;
    SmallVector<StringRef> parts;
    dimsStr.split(parts, 'x');
    for (StringRef p : parts) {
      int64_t d;
      if (p.getAsInteger(10, d) || d < 0)
        return ("invalid dimension '" + p + "' in '" + item + "'").str();
      dims.push_back(d);
    }
    options.inputShapes[name] = dims;
  }
  return "";
}

OwningOpRef<ModuleOp>
onebit::importONNXBuffer(StringRef bytes, StringRef bufferName,
                         StringRef baseDir, MLIRContext &context,
                         const ONNXImportOptions &options) {
  std::shared_ptr<onnx::ModelProto> model;
  if (bytes.size() < size_t(INT_MAX))
    model = parseModel(bytes);
  if (!model) {
    emitError(FileLineColLoc::get(&context, bufferName, 0, 0))
        << bufferName
        << ": not a valid ONNX model (the protobuf cannot be parsed; the file "
           "may be truncated or of another format)";
    return nullptr;
  }
  return importModel(std::move(model), bufferName, baseDir, context, options);
}

OwningOpRef<ModuleOp> onebit::importONNXFile(StringRef path,
                                             MLIRContext &context,
                                             const ONNXImportOptions &options) {
  auto buf = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                         /*RequiresNullTerminator=*/false);
  if (!buf) {
    emitError(FileLineColLoc::get(&context, path, 0, 0))
        << path << ": cannot open: " << buf.getError().message();
    return nullptr;
  }
  SmallString<256> dir(path);
  llvm::sys::path::remove_filename(dir);
  if (dir.empty())
    dir = ".";
  return importONNXBuffer((*buf)->getBuffer(), path, dir, context, options);
}
