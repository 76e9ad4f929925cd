//===- Quantize.h - SVID quantization of linear layers as an API -*- C++ -*-===//
//
// The library form of --onebit-quantize, for tools and the Python package
// that want the per-layer report as data rather than text.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_DIALECT_ONEBIT_TRANSFORMS_QUANTIZE_H
#define ONEBIT_DIALECT_ONEBIT_TRANSFORMS_QUANTIZE_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"
#include "llvm/Support/raw_ostream.h"

#include <memory>
#include <string>
#include <vector>

namespace onebit {

/// Options of the rewrite; the defaults are the pass's defaults.
struct QuantizeConfig {
  std::string init = "nmf"; ///< nmf, svd or mean
  unsigned maxIters = 200;
  double tolerance = 1e-6;
  unsigned seed = 0;
  std::vector<std::string> exclude; ///< glob patterns / substrings
  int64_t minElements = 0;
  bool keepHead = true;
  bool postNorm = true;
  double normEps = 1e-5;
  std::string valueType = "f32"; ///< f32 or f16
  bool emitRemarks = false;
  /// Keep a private FP copy `<f>_teacher` of every public function (marked
  /// `onebit.teacher`) for knowledge distillation.
  bool keepTeacher = false;
  /// Release the data of a weight's `dense_resource` once the rewrite has
  /// erased its last constant (an importer's mapping of the file, or the
  /// heap copy it decoded), so a streamed import holds no FP copy of the
  /// layers it has rewritten. The attribute stays valid as a key.
  bool releaseWeights = false;
};

/// One quantized layer.
struct QuantizedLayer {
  std::string name;
  int64_t outFeatures = 0, inFeatures = 0;
  unsigned iterations = 0;
  double relError = 0;      ///< ||W - S.(h g^T)||_F / ||W||_F
  double bitsPerWeight = 0; ///< signs plus g and h at their stored width
};

/// A matched layer left in full precision, and why.
struct SkippedLayer {
  std::string name;
  int64_t outFeatures = 0, inFeatures = 0;
  std::string reason; ///< "excluded", "head", "min-elements"
};

struct QuantizeReport {
  std::vector<QuantizedLayer> quantized;
  std::vector<SkippedLayer> skipped;
  double linearBitsPerWeight = 0; ///< over every matched linear layer
  double modelBitsPerWeight = 0;  ///< over every constant tensor
  int64_t constantBytesBefore = 0, constantBytesAfter = 0;
};

/// The rewrite in steps, for a module an importer is still building: each
/// step rewrites the layers complete so far exactly as the whole rewrite
/// would (same constants, names, statistics), so an import that calls it
/// after each decoder block never holds the whole model in full precision.
/// Weights seen again (another entry of a KV-cache import) reuse the first
/// rewrite and are never read.
class StreamingQuantizer {
public:
  /// Checks `config`; errors (unknown init or value type, bad exclude
  /// pattern, norm-eps) are emitted at `errorAt`. keep-teacher needs the
  /// whole FP model: quantizeLinearLayers clones the teacher
  /// before its one step; a streamed import refuses it.
  static mlir::FailureOr<std::unique_ptr<StreamingQuantizer>>
  create(mlir::Operation *errorAt, const QuantizeConfig &config);
  ~StreamingQuantizer();

  /// Rewrites the matched layers not seen by an earlier step. With `final`
  /// false only the layers of functions still being built (no terminator
  /// yet) are considered, and those named like `lm_head` wait: the caller
  /// promises every layer there is complete (a bias add folded into a layer
  /// must already follow it) and that none other produces the logits. The
  /// final step sees every function and chooses the heads as the pass does.
  mlir::LogicalResult step(mlir::ModuleOp module, bool final);
  /// The report of every step so far; the model-wide figures count the
  /// constants `module` holds now and those the steps replaced.
  QuantizeReport finish(mlir::ModuleOp module);

  struct State;

private:
  StreamingQuantizer();
  std::unique_ptr<State> state;
};

/// Rewrites the matched linear layers of `module` in place. Errors (bad
/// options, non-finite weights) are emitted as diagnostics on `module`.
mlir::FailureOr<QuantizeReport>
quantizeLinearLayers(mlir::ModuleOp module, const QuantizeConfig &config);

/// The text report that `--onebit-quantize=stats=true` prints.
void printQuantizeReport(const QuantizeReport &report, mlir::StringRef init,
                         llvm::raw_ostream &os);

} // namespace onebit

#endif // ONEBIT_DIALECT_ONEBIT_TRANSFORMS_QUANTIZE_H
