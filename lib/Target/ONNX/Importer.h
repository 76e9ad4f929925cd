//===- Importer.h - state and helpers shared by the ONNX op converters ---===//
//
// The importer walks the graph's nodes in order, keeping a table from ONNX
// value names to SSA values and a table of small integer tensors whose
// elements are known at import time (constants or tensor.dim results), which
// is how shape subgraphs (Shape -> Gather -> Concat -> Reshape) fold away.
// Each node goes to the OpRule registered for its op type at the model's
// opset: its fold rule first, then its converter.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_LIB_TARGET_ONNX_IMPORTER_H
#define ONEBIT_LIB_TARGET_ONNX_IMPORTER_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

#include <onnx/onnx_pb.h>

#include <optional>
#include <string>

namespace onebit::onnx_import {
using namespace mlir;

/// One element of an integer tensor known at import time: a constant, or an
/// index value computed in the IR (a tensor.dim or arithmetic on dims).
struct KnownElt {
  int64_t c = 0;
  Value v;             // null: the constant `c`
  bool nonNeg = false; // v is known to be >= 0 (a dimension size)
  bool isConst() const { return !v; }
};

/// A rank-0 or rank-1 integer tensor whose elements are known.
struct KnownInts {
  SmallVector<int64_t> shape;
  SmallVector<KnownElt> elts;
  Type elemType; // i64 or i32 (i1 for comparisons)
  bool allConst() const {
    return llvm::all_of(elts, [](const KnownElt &e) { return e.isConst(); });
  }
};

class Importer;
/// Converts the current node to IR, setting its outputs.
using ConvertFn = LogicalResult (*)(Importer &, const onnx::NodeProto &);
/// Evaluates the node on known integer tensors (shape subgraphs); returns
/// true when it recorded all outputs in Importer::known, false (recording
/// nothing) when its inputs are not known well enough, and the converter
/// runs instead.
using FoldFn = bool (*)(Importer &, const onnx::NodeProto &);
using BodyFn = llvm::function_ref<Value(OpBuilder &, Location, ValueRange)>;

/// How the importer handles one ONNX op from one opset version on, as
/// torch-mlir's `onOp(name, sinceVersion, fn)`: an op whose handling differs
/// between versions (attributes that became inputs) is registered once per
/// version where it does.
struct OpRule {
  StringRef opType;
  int64_t sinceVersion;
  ConvertFn convert;
  FoldFn fold = nullptr;
};

/// The ops of the default ONNX domain the importer converts.
class OpRegistry {
public:
  /// Registers `rule`; an op may not be registered twice at one version.
  void add(const OpRule &rule);
  /// The registration of `opType` that applies at `opset`: the one with the
  /// largest sinceVersion <= opset, or null if none does.
  const OpRule *lookup(StringRef opType, int64_t opset) const;
  /// The first opset at which `opType` is registered, if it is at all.
  std::optional<int64_t> firstVersion(StringRef opType) const;

  /// All ops of ElementwiseOps.cpp, ShapeOps.cpp and LinalgOps.cpp, built
  /// once.
  static const OpRegistry &onnxOps();

private:
  /// Each op's registrations, ordered by sinceVersion.
  llvm::StringMap<SmallVector<OpRule, 1>> rules;
};

void addElementwiseOps(OpRegistry &registry);
void addShapeOps(OpRegistry &registry);
void addLinalgOps(OpRegistry &registry);

/// Element type of an ONNX TensorProto data type, or null if unsupported.
/// Unsigned ONNX types map to signless integers of their width; the importer
/// remembers which values are unsigned (Importer::unsignedValues).
Type elementTypeFor(MLIRContext *ctx, int onnxType);
/// Whether an ONNX TensorProto data type is an unsigned integer type.
bool isUnsignedType(int onnxType);

class Importer {
public:
  Importer(MLIRContext *ctx, std::string fileName, int64_t opset);

  MLIRContext *ctx;
  OpBuilder b;
  Location loc;
  std::string fileName;
  int64_t opset;
  const onnx::NodeProto *node = nullptr;
  llvm::StringMap<Value> values;
  llvm::StringMap<KnownInts> known;
  /// Types from ONNX shape inference (value_info), by value name.
  llvm::StringMap<RankedTensorType> inferred;
  /// Names of values whose ONNX type is an unsigned integer type. Their IR
  /// type is signless; ops whose meaning depends on signedness (Div, Max,
  /// Min, Clip, comparisons, Cast, Pow) consult this set.
  llvm::StringSet<> unsignedValues;

  // --- values ---------------------------------------------------------------
  /// The value named `name`; materializes known integer tensors on demand.
  FailureOr<Value> get(StringRef name);
  /// Input `i` of the current node, or an error if it is missing.
  FailureOr<Value> input(unsigned i);
  bool hasInput(unsigned i) const {
    return int(i) < node->input_size() && !node->input(i).empty();
  }
  /// Whether input `i` of the current node has an unsigned ONNX type.
  bool inputUnsigned(unsigned i) const {
    return hasInput(i) && unsignedValues.contains(node->input(i));
  }
  void set(StringRef name, Value v) { values[name] = v; }
  /// Sets output `i` of the current node.
  void setOutput(unsigned i, Value v) { set(node->output(i), v); }
  void setKnown(StringRef name, KnownInts k) { known[name] = std::move(k); }
  const KnownInts *getKnown(StringRef name) const;
  /// The known elements of input `i` of the current node, or null.
  const KnownInts *knownInput(unsigned i) const {
    return hasInput(i) ? getKnown(node->input(i)) : nullptr;
  }
  /// The elements of input `i` if they are all constants.
  std::optional<SmallVector<int64_t>> constInts(unsigned i) const;
  /// A scalar float from a constant input (e.g. Clip min), if constant.
  std::optional<double> constFloat(unsigned i);

  // --- diagnostics ----------------------------------------------------------
  /// An error for the current node, naming file, node, op type and opset.
  InFlightDiagnostic error();
  Location fileLoc() { return FileLineColLoc::get(ctx, fileName, 0, 0); }

  // --- attributes -----------------------------------------------------------
  const onnx::AttributeProto *attr(StringRef name) const;
  int64_t attrInt(StringRef name, int64_t dflt) const;
  float attrFloat(StringRef name, float dflt) const;
  std::string attrString(StringRef name, StringRef dflt) const;
  std::optional<SmallVector<int64_t>> attrInts(StringRef name) const;

  // --- IR helpers -----------------------------------------------------------
  OpFoldResult dim(Value t, int64_t i);
  SmallVector<OpFoldResult> dims(Value t);
  Value indexValue(OpFoldResult ofr);
  static RankedTensorType tensorType(ArrayRef<OpFoldResult> sizes, Type et);
  Value empty(ArrayRef<OpFoldResult> sizes, Type et);
  Value filled(ArrayRef<OpFoldResult> sizes, Type et, double value);
  /// A scalar constant of `et` (float or integer) built with `bb`.
  static Value scalar(OpBuilder &bb, Location l, Type et, double value);
  /// Converts a scalar between element types with ONNX Cast semantics;
  /// `fromUnsigned` / `toUnsigned` give the integers' ONNX signedness.
  static Value castScalar(OpBuilder &bb, Location l, Value v, Type to,
                          bool fromUnsigned = false, bool toUnsigned = false);
  /// Normalizes a possibly negative axis; errors when out of range.
  FailureOr<int64_t> axis(int64_t a, int64_t rank);

  /// numpy-broadcasting elementwise op. `shapeOverride` adds a shape to
  /// broadcast with (Expand).
  FailureOr<Value> elementwise(ArrayRef<Value> ins, Type outEt, BodyFn body,
                               ArrayRef<OpFoldResult> shapeOverride = {});
  /// Reduces `axes` (sorted, normalized) of `x` with `combine(x, acc)`
  /// starting from `init`.
  Value reduce(Value x, ArrayRef<int64_t> axes, bool keepDims, double init,
               BodyFn combine);
  /// Row-major reshape to `sizes` (expand/collapse_shape where possible).
  Value reshape(Value x, ArrayRef<OpFoldResult> sizes);
  /// Uses static dims from shape inference where `sizes` has dynamic ones.
  void refineSizes(StringRef valueName, SmallVectorImpl<OpFoldResult> &sizes);

  LogicalResult convertNode(const onnx::NodeProto &n);
  /// Whether `n` is an op this importer converts (its domain is the default
  /// one and its op type is registered at the model's opset). Errors name
  /// the node otherwise.
  LogicalResult checkSupported(const onnx::NodeProto &n);

private:
  /// The registration that handles `n` at the model's opset, or an error.
  FailureOr<const OpRule *> selectRule(const onnx::NodeProto &n);

  const OpRegistry &ops;
};

} // namespace onebit::onnx_import

#endif // ONEBIT_LIB_TARGET_ONNX_IMPORTER_H
