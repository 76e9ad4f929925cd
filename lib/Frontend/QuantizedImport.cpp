//===- QuantizedImport.cpp - Quantize a model as it is imported -----------===//

#include "onebit/Frontend/QuantizedImport.h"
#include "onebit/Dialect/OneBit/IR/OneBit.h"
#include "onebit/Target/ONNX/ImportONNX.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/StringExtras.h"

using namespace mlir;

namespace onebit {

std::string parseQuantizeOptions(StringRef spec, QuantizeConfig &config,
                                 bool &stats) {
  SmallVector<StringRef> items;
  spec.split(items, ' ', /*MaxSplit=*/-1, /*KeepEmpty=*/false);
  for (StringRef item : items) {
    StringRef key = item.split('=').first;
    StringRef value = item.split('=').second;
    if (!item.contains('='))
      return "option '" + key.str() + "' needs a value (" + key.str() +
             "=...)";
    auto bad = [&](StringRef what) {
      return "option '" + key.str() + "': '" + value.str() + "' is not " +
             what.str();
    };
    auto boolean = [&](bool &out) -> std::string {
      if (value == "true" || value == "1")
        out = true;
      else if (value == "false" || value == "0")
        out = false;
      else
        return bad("true or false");
      return "";
    };
    auto real = [&](double &out) -> std::string {
      if (value.getAsDouble(out))
        return bad("a number");
      return "";
    };
    auto whole = [&](unsigned &out) -> std::string {
      if (value.getAsInteger(10, out))
        return bad("a non-negative integer");
      return "";
    };
    std::string err;
    if (key == "init") {
      if (value != "nmf" && value != "svd" && value != "mean")
        return bad("an init (nmf, svd or mean)");
      config.init = value.str();
    } else if (key == "max-iters") {
      err = whole(config.maxIters);
    } else if (key == "tol") {
      err = real(config.tolerance);
    } else if (key == "seed") {
      err = whole(config.seed);
    } else if (key == "exclude") {
      SmallVector<StringRef> patterns;
      value.split(patterns, ',', -1, /*KeepEmpty=*/false);
      for (StringRef p : patterns)
        config.exclude.push_back(p.str());
    } else if (key == "min-elements") {
      if (value.getAsInteger(10, config.minElements) || config.minElements < 0)
        return bad("a non-negative integer");
    } else if (key == "keep-head") {
      err = boolean(config.keepHead);
    } else if (key == "post-norm") {
      err = boolean(config.postNorm);
    } else if (key == "norm-eps") {
      err = real(config.normEps);
      if (err.empty() && !(config.normEps > 0))
        return bad("positive");
    } else if (key == "value-type") {
      if (value != "f32" && value != "f16")
        return bad("a value type (f32 or f16)");
      config.valueType = value.str();
    } else if (key == "stats") {
      err = boolean(stats);
    } else if (key == "remarks") {
      err = boolean(config.emitRemarks);
    } else if (key == "keep-teacher") {
      return "option 'keep-teacher' needs the whole full-precision model; "
             "import without --quantize and run --onebit-quantize";
    } else {
      return "unknown option '" + key.str() +
             "' (expected init, max-iters, tol, seed, exclude, min-elements, "
             "keep-head, post-norm, norm-eps, value-type, stats or remarks)";
    }
    if (!err.empty())
      return err;
  }
  return "";
}

namespace {

/// A quantizer for an import into `context`, whose errors name `path`.
std::unique_ptr<StreamingQuantizer> makeQuantizer(StringRef path,
                                                  MLIRContext &context,
                                                  QuantizeConfig config) {
  context.loadDialect<OneBitDialect>();
  if (config.keepTeacher) {
    emitError(FileLineColLoc::get(&context, path, 0, 0))
        << path << ": keep-teacher needs the whole full-precision model";
    return nullptr;
  }
  config.releaseWeights = true;
  // Options are checked before the import reads any weight.
  OwningOpRef<ModuleOp> scratch =
      ModuleOp::create(FileLineColLoc::get(&context, path, 0, 0));
  auto q = StreamingQuantizer::create(*scratch, config);
  return succeeded(q) ? std::move(*q) : nullptr;
}

OwningOpRef<ModuleOp> finish(OwningOpRef<ModuleOp> module,
                             StreamingQuantizer &quantizer,
                             QuantizeReport *report) {
  if (!module || failed(quantizer.step(*module, /*final=*/true)))
    return nullptr;
  QuantizeReport r = quantizer.finish(*module);
  if (report)
    *report = std::move(r);
  return module;
}

} // namespace

OwningOpRef<ModuleOp> importQuantizedGGUF(StringRef path, MLIRContext &context,
                                          const GGUFImportOptions &options,
                                          const QuantizeConfig &config,
                                          QuantizeReport *report) {
  std::unique_ptr<StreamingQuantizer> quantizer =
      makeQuantizer(path, context, config);
  if (!quantizer)
    return nullptr;
  GGUFImportOptions opts = options;
  std::function<LogicalResult(ModuleOp)> outer = options.afterBlock;
  opts.afterBlock = [&](ModuleOp module) -> LogicalResult {
    if (outer && failed(outer(module)))
      return failure();
    return quantizer->step(module, /*final=*/false);
  };
  return finish(importGGUFFile(path, context, opts), *quantizer, report);
}

OwningOpRef<ModuleOp> importQuantizedONNX(StringRef path, MLIRContext &context,
                                          const ONNXImportOptions &options,
                                          const QuantizeConfig &config,
                                          QuantizeReport *report) {
  std::unique_ptr<StreamingQuantizer> quantizer =
      makeQuantizer(path, context, config);
  if (!quantizer)
    return nullptr;
  // The initializers are references into the mapped external data or the
  // parsed model; the rewrite reads and releases them one at a time.
  return finish(importONNXFile(path, context, options), *quantizer, report);
}

} // namespace onebit
