//===- ReverseMode.cpp - reverse-mode AD of linalg-on-tensors functions ---===//
//
// Builds the gradient function of a scalar loss. The function is first put in
// a normal form (named linalg ops generalised, linalg.softmax decomposed,
// elementwise arith/math on tensors turned into linalg.generic, the training
// form of the 1-bit layer decomposed), then its ops are visited in reverse
// and each emits the vector-Jacobian product of its operands:
//
//  * linalg.generic: for every differentiated operand, one adjoint generic
//    over the same iteration space whose payload pushes a tangent through
//    the primal payload (ReverseModeGenericRules.cpp);
//  * tensor structural ops have structural adjoints
//    (ReverseModeTensorRules.cpp);
//  * scalar arith/math ops use the same derivative rules as payloads
//    (ReverseModeScalarRules.cpp).
//
// Adjoints of values used several times accumulate, preferably in place (a
// later adjoint generic takes the running adjoint as its init).
//
// This file holds the sweep: activity analysis, the seed, the visit order,
// the dispatch to the rule families and the accumulation of adjoints.
//
//===----------------------------------------------------------------------===//

#include "ReverseMode.h"
#include "onebit/Dialect/OneBit/Transforms/Autodiff.h"

#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace onebit;
using namespace onebit::autodiff;

bool onebit::autodiff::isDifferentiable(Type t) {
  if (isa<FloatType>(t))
    return true;
  auto rt = dyn_cast<RankedTensorType>(t);
  return rt && isa<FloatType>(rt.getElementType());
}

SmallVector<AffineMap> ReverseMode::identityMaps(unsigned rank, unsigned n) {
  return SmallVector<AffineMap>(
      n, AffineMap::getMultiDimIdentityMap(rank, b.getContext()));
}

Value ReverseMode::emptyLike(Location loc, Value v) {
  auto type = cast<RankedTensorType>(v.getType());
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, v);
  return tensor::EmptyOp::create(b, loc, sizes, type.getElementType());
}

Value ReverseMode::zerosLike(Location loc, Value v) {
  Type et = getElementTypeOrSelf(v.getType());
  Value zero = arith::ConstantOp::create(b, loc, b.getFloatAttr(et, 0.0));
  if (isa<FloatType>(v.getType()))
    return zero;
  return linalg::FillOp::create(b, loc, zero, emptyLike(loc, v)).getResult(0);
}

Value ReverseMode::addTensors(Location loc, Value x, Value y) {
  auto type = cast<RankedTensorType>(x.getType());
  unsigned rank = type.getRank();
  SmallVector<utils::IteratorType> its(rank, utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, type, ValueRange{x, y}, ValueRange{emptyLike(loc, x)},
             identityMaps(rank, 3), its,
             [](OpBuilder &nb, Location l, ValueRange args) {
               Value s = arith::AddFOp::create(nb, l, args[0], args[1]);
               linalg::YieldOp::create(nb, l, s);
             })
      .getResult(0);
}

/// The sum of every element of `t`, as a scalar.
Value ReverseMode::sumAll(Location loc, Value t) {
  auto type = cast<RankedTensorType>(t.getType());
  Type et = type.getElementType();
  unsigned rank = type.getRank();
  Value zero = arith::ConstantOp::create(b, loc, b.getFloatAttr(et, 0.0));
  Value init = linalg::FillOp::create(
                   b, loc, zero,
                   tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{}, et)
                       .getResult())
                   .getResult(0);
  SmallVector<AffineMap> maps = {
      AffineMap::getMultiDimIdentityMap(rank, b.getContext()),
      AffineMap::get(rank, 0, {}, b.getContext())};
  SmallVector<utils::IteratorType> its(rank, utils::IteratorType::reduction);
  Value r = linalg::GenericOp::create(
                b, loc, init.getType(), ValueRange{t}, ValueRange{init}, maps,
                its,
                [](OpBuilder &nb, Location l, ValueRange args) {
                  Value s = arith::AddFOp::create(nb, l, args[1], args[0]);
                  linalg::YieldOp::create(nb, l, s);
                })
                .getResult(0);
  return tensor::ExtractOp::create(b, loc, r, ValueRange{});
}

void ReverseMode::accumulate(Value v, Value c) {
  Location loc = v.getLoc();
  if (c.getType() != v.getType())
    c = tensor::CastOp::create(b, loc, v.getType(), c);
  Value existing = adjointOf(v);
  if (!existing) {
    adjoints[v] = c;
    return;
  }
  if (isa<FloatType>(v.getType()))
    adjoints[v] = arith::AddFOp::create(b, loc, existing, c);
  else
    adjoints[v] = addTensors(loc, existing, c);
}

LogicalResult ReverseMode::sweep(ArrayRef<unsigned> wrt) {
  Block &block = fn.getBody().front();

  // Activity: values that depend on a differentiated argument.
  for (unsigned i : wrt)
    varied.insert(block.getArgument(i));
  for (Operation &op : block.without_terminator()) {
    bool uses = false;
    op.walk([&](Operation *nested) {
      for (Value v : nested->getOperands())
        if (varied.contains(v))
          uses = true;
    });
    if (!uses)
      continue;
    for (Value r : op.getResults())
      if (isDifferentiable(r.getType()))
        varied.insert(r);
  }

  SmallVector<Operation *> ops;
  for (Operation &op : block.without_terminator())
    ops.push_back(&op);
  for (Operation *op : llvm::reverse(ops))
    if (failed(visit(op)))
      return failure();
  for (Operation *op : replacedCalls)
    op->erase();
  replacedCalls.clear();
  return success();
}

LogicalResult ReverseMode::run(ArrayRef<unsigned> wrt) {
  Block &block = fn.getBody().front();
  auto ret = cast<func::ReturnOp>(block.getTerminator());

  // Seed: d loss / d loss = 1.
  b.setInsertionPoint(ret);
  Value loss = ret.getOperand(0);
  Location loc = ret.getLoc();
  Value seed;
  if (auto ft = dyn_cast<FloatType>(loss.getType()))
    seed = arith::ConstantOp::create(b, loc, b.getFloatAttr(ft, 1.0));
  else {
    auto tt = cast<RankedTensorType>(loss.getType());
    seed = arith::ConstantOp::create(
        b, loc,
        DenseElementsAttr::get(tt, b.getFloatAttr(tt.getElementType(), 1.0)));
  }
  adjoints[loss] = seed;
  return sweepAndReturn(wrt, ret.getOperands());
}

LogicalResult ReverseMode::sweepAndReturn(ArrayRef<unsigned> wrt,
                                          ValueRange kept) {
  if (failed(sweep(wrt)))
    return failure();
  Block &block = fn.getBody().front();
  auto ret = cast<func::ReturnOp>(block.getTerminator());
  SmallVector<Value> results(kept);
  b.setInsertionPoint(ret);
  for (unsigned i : wrt) {
    Value arg = block.getArgument(i);
    Value g = adjointOf(arg);
    results.push_back(g ? g : zerosLike(ret.getLoc(), arg));
  }
  ret->setOperands(results);
  fn.setType(FunctionType::get(fn.getContext(), block.getArgumentTypes(),
                               ValueRange(results).getTypes()));
  return success();
}

LogicalResult ReverseMode::runAdjoint(ArrayRef<unsigned> wrt,
                                      ArrayRef<unsigned> seeded) {
  Block &block = fn.getBody().front();
  auto ret = cast<func::ReturnOp>(block.getTerminator());
  Location loc = ret.getLoc();
  b.setInsertionPoint(ret);
  // One new argument per seeded result; a value returned twice gets both.
  for (unsigned r : seeded) {
    Value result = ret.getOperand(r);
    BlockArgument seed = block.addArgument(result.getType(), loc);
    accumulate(result, seed);
  }
  return sweepAndReturn(wrt, ValueRange());
}

LogicalResult ReverseMode::visit(Operation *op) {
  bool hasAdjoint = llvm::any_of(op->getResults(), [&](Value r) {
    return static_cast<bool>(adjointOf(r));
  });
  if (!hasAdjoint)
    return success();
  bool anyVaried = false;
  op->walk([&](Operation *nested) {
    for (Value v : nested->getOperands())
      anyVaried |= isVaried(v);
  });
  if (!anyVaried)
    return success();

  b.setInsertionPoint(fn.getBody().front().getTerminator());
  auto fail = [&]() {
    return op->emitOpError(
        "autodiff: no reverse-mode rule for this op (supported: "
        "linalg ops, tensor.expand_shape/collapse_shape/reshape/cast/"
        "extract_slice/insert_slice/concat/pad/extract/insert/"
        "from_elements/splat, scalar arith and math ops, "
        "onebit.binary_linear_train, func.call of a function with a body)");
  };

  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case<linalg::GenericOp>([&](linalg::GenericOp g) {
        if (g->getNumResults() == 1 && ste.contains(g->getResult(0)))
          return visitSte(g);
        return visitGeneric(g);
      })
      .Case<func::CallOp>([&](func::CallOp c) { return visitCall(c); })
      .Case<linalg::FillOp, tensor::ExpandShapeOp, tensor::CollapseShapeOp,
            tensor::ReshapeOp, tensor::CastOp, tensor::ExtractSliceOp,
            tensor::InsertSliceOp, tensor::ConcatOp, tensor::PadOp,
            tensor::ExtractOp, tensor::InsertOp, tensor::FromElementsOp,
            tensor::SplatOp>([&](auto s) { return visitStructural(s); })
      .Default([&](Operation *o) -> LogicalResult {
        if (o->getNumRegions() == 0 && o->getNumResults() == 1 &&
            isa<FloatType>(o->getResult(0).getType()))
          return visitScalar(o);
        return fail();
      });
}

FailureOr<func::FuncOp>
onebit::buildGradientFunction(func::FuncOp f, ArrayRef<unsigned> wrt,
                              const GradientOptions &options) {
  if (f.isExternal() || !f.getBody().hasOneBlock())
    return f.emitOpError("autodiff: the function must have a body of one "
                         "block");
  if (f.getNumResults() == 0)
    return f.emitOpError("autodiff: the function returns nothing; result #0 "
                         "must be the loss");
  Type lossType = f.getResultTypes()[0];
  auto lossTensor = dyn_cast<RankedTensorType>(lossType);
  bool scalarLoss =
      isa<FloatType>(lossType) ||
      (lossTensor && isa<FloatType>(lossTensor.getElementType()) &&
       lossTensor.hasStaticShape() && lossTensor.getNumElements() == 1);
  if (!scalarLoss)
    return f.emitOpError() << "autodiff: result #0 must be a floating-point "
                              "scalar or one-element tensor (the loss), got "
                           << lossType;
  for (unsigned i : wrt) {
    if (i >= f.getNumArguments())
      return f.emitOpError() << "autodiff: argument #" << i
                             << " does not exist (the function has "
                             << f.getNumArguments() << ")";
    if (!isDifferentiable(f.getArgumentTypes()[i]))
      return f.emitOpError() << "autodiff: argument #" << i << " has type "
                             << f.getArgumentTypes()[i]
                             << "; only floating-point scalars and tensors "
                                "can be differentiated";
  }

  std::string name =
      options.name.empty() ? (f.getName() + "_grad").str() : options.name;
  auto module = f->getParentOfType<ModuleOp>();
  if (module && SymbolTable::lookupSymbolIn(module, name))
    return f.emitOpError() << "autodiff: a symbol named '" << name
                           << "' already exists";

  OpBuilder b(f);
  b.setInsertionPointAfter(f);
  auto g = cast<func::FuncOp>(b.clone(*f));
  g.setName(name);

  llvm::DenseSet<Value> ste;
  if (failed(normalize(g, ste))) {
    g.erase();
    return failure();
  }
  CallAdjoints calls;
  calls.recompute = options.checkpoint;
  ReverseMode rm(g, ste, calls);
  if (failed(rm.run(wrt))) {
    g.erase();
    return failure();
  }
  if (options.simplify)
    simplify(g);
  return g;
}
