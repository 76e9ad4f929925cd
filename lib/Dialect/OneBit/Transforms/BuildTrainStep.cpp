//===- BuildTrainStep.cpp - --onebit-build-train-step: the KD train step --===//
//
// Generates OneBit's knowledge-distillation train step from a model's forward
// function (docs/training.md):
//
//   @<f>_student(params..., inputs...) -> (logits, hidden states...)
//       the 1-bit student in training form; params are the latent weights,
//       g and h of every binary layer, in layer order;
//   @<f>_kd_loss(params..., inputs...) -> (loss, l_ce, l_mse)
//       teacher (the frozen FP function) and student forward on the same
//       inputs, L_KD = L_CE + alpha * L_MSE;
//   @<f>_kd_loss_grad(...) -> (loss, l_ce, l_mse, d params...)
//       by --onebit-autodiff's reverse mode (straight-through sign);
//   @<f>_train_step(params..., adam_m..., adam_v..., inputs..., lr, step)
//       -> (params'..., adam_m'..., adam_v'..., loss, l_ce, l_mse)
//       one Adam step (decoupled weight decay) on every parameter;
//   @<f>_train_init() -> (params...)
//       the SVID initialisation: latent = sign(W) * latent-scale, g, h;
//   with split-update=true (data-parallel training), also
//   @<f>_apply_update(params..., adam_m..., adam_v..., grads..., lr, step)
//       -> (params'..., adam_m'..., adam_v'...)
//       the same Adam update on gradients averaged outside, and
//   @<f>_apply_update_slice(p, adam_m, adam_v, grads, lr, step)
//       the same on 1-D slices of the parameters laid end to end
//       (optimizer-state sharding);
//
// The teacher is `<f>_teacher` (kept by --onebit-quantize=keep-teacher=true)
// or, when `f` is still full precision, a copy of `f` made here before the
// student is quantized with the default --onebit-quantize options.
//
//===----------------------------------------------------------------------===//

#include "onebit/Dialect/OneBit/IR/OneBit.h"
#include "onebit/Dialect/OneBit/Transforms/Autodiff.h"
#include "onebit/Dialect/OneBit/Transforms/Passes.h"
#include "onebit/Dialect/OneBit/Transforms/Quantize.h"
#include "onebit/Dialect/OneBit/Transforms/TrainForm.h"
#include "onebit/Dialect/OneBit/Utils/ConstantData.h"
#include "onebit/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Regex.h"

#include <optional>

#include <map>

namespace onebit {
#define GEN_PASS_DEF_ONEBITBUILDTRAINSTEP
#include "onebit/Dialect/OneBit/Transforms/Passes.h.inc"
} // namespace onebit

using namespace mlir;
using namespace onebit;

namespace {

std::string locName(Location loc) { return getLocationName(loc); }

bool isFloatTensor(Type t) {
  auto rt = dyn_cast<RankedTensorType>(t);
  return rt && isa<FloatType>(rt.getElementType());
}

/// The value of a hidden-state tap in `f`: the result of the last op whose
/// location name is `name` and whose result is a float tensor.
Value findTap(func::FuncOp f, StringRef name) {
  Value found;
  for (Operation &op : f.getBody().front())
    if (op.getNumResults() == 1 && isFloatTensor(op.getResult(0).getType()) &&
        locName(op.getLoc()) == name)
      found = op.getResult(0);
  return found;
}

/// Hidden states after every decoder layer: for each layer index i (from
/// `layerRegex`, whose last group is the index), the last value produced in
/// layer i's scope and used outside it (the residual stream entering layer
/// i+1, or the final norm). Returns location names in layer order.
FailureOr<SmallVector<std::string>> detectTaps(func::FuncOp f,
                                               StringRef layerRegex) {
  llvm::Regex re(layerRegex);
  std::string error;
  if (!re.isValid(error))
    return f.emitOpError() << "onebit-build-train-step: layer-regex '"
                           << layerRegex << "' is invalid: " << error;
  auto layerOf = [&](Operation *op) -> int64_t {
    SmallVector<StringRef> groups;
    std::string name = locName(op->getLoc());
    if (!re.match(name, &groups) || groups.size() < 2)
      return -1;
    int64_t idx;
    if (groups.back().getAsInteger(10, idx))
      return -1;
    return idx;
  };
  std::map<int64_t, Operation *> last;
  for (Operation &op : f.getBody().front()) {
    if (op.getNumResults() != 1 || !isFloatTensor(op.getResult(0).getType()))
      continue;
    int64_t idx = layerOf(&op);
    if (idx < 0)
      continue;
    bool usedOutside = llvm::any_of(op.getResult(0).getUsers(), [&](Operation *u) {
      return layerOf(u) != idx;
    });
    if (usedOutside)
      last[idx] = &op;
  }
  SmallVector<std::string> names;
  for (auto &[idx, op] : last)
    names.push_back(locName(op->getLoc()));
  return names;
}

/// The scope of an op's location without the last component
/// ("/model/layers.0/self_attn/q_proj/MatMul" ->
/// "model.layers.0.self_attn.q_proj"); "" when the location has no scope.
std::string scopeName(Operation *op) {
  std::string name = locName(op->getLoc());
  StringRef s(name);
  if (!s.starts_with("/") || s.count('/') < 2)
    return "";
  std::string out = s.drop_front().rsplit('/').first.str();
  std::replace(out.begin(), out.end(), '/', '.');
  return out;
}

/// The layer's parameter prefix: its scope, else its onebit.name, else
/// layer<i>.
std::string paramPrefix(Operation *op, unsigned index) {
  if (std::string scope = scopeName(op); !scope.empty())
    return scope;
  if (auto n = op->getAttrOfType<StringAttr>("onebit.name"))
    return n.str();
  return "layer" + std::to_string(index);
}

/// Full-precision weights that train with the 1-bit layers
/// (`trainable=`): for every f32 constant at the top level of `student`, the
/// categories it falls in.
struct FpSelection {
  bool embeddings = false, norms = false, head = false;
  std::optional<llvm::Regex> normRe, extraRe;
};

/// A constant read by tensor.extract inside a linalg.generic (a gather).
bool isGatherTable(Value c) {
  return llvm::any_of(c.getUses(), [&](OpOperand &use) {
    auto ex = dyn_cast<tensor::ExtractOp>(use.getOwner());
    return ex && ex.getTensor() == c &&
           isa_and_nonnull<linalg::GenericOp>(ex->getParentOp());
  });
}

/// The contraction that produces the logits: walks back from `logits`
/// through shape ops, casts and one-input elementwise generics to the first
/// linalg op with a reduction loop.
linalg::LinalgOp findHeadContraction(Value logits) {
  Value v = logits;
  for (int hops = 0; hops < 32 && v; ++hops) {
    Operation *def = v.getDefiningOp();
    if (!def)
      return {};
    if (auto lin = dyn_cast<linalg::LinalgOp>(def)) {
      if (lin.getNumReductionLoops() > 0)
        return lin;
      // An elementwise op: follow its only non-constant tensor input.
      Value next;
      for (OpOperand *in : lin.getDpsInputOperands()) {
        if (!isa<RankedTensorType>(in->get().getType()) ||
            matchPattern(in->get(), m_Constant()))
          continue;
        if (next)
          return {};
        next = in->get();
      }
      v = next;
      continue;
    }
    if (isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp, tensor::ReshapeOp,
            tensor::CastOp, arith::ExtFOp, arith::TruncFOp>(def)) {
      v = def->getOperand(0);
      continue;
    }
    return {};
  }
  return {};
}

//===----------------------------------------------------------------------===//
// Small tensor-IR builders
//===----------------------------------------------------------------------===//

struct Emitter {
  OpBuilder &b;
  Location loc;
  Type f32;

  Value cst(double v) {
    return arith::ConstantOp::create(b, loc, b.getFloatAttr(f32, v));
  }

  /// Dynamic sizes of `v`'s dims listed in `dims`.
  SmallVector<OpFoldResult> sizes(Value v, ArrayRef<int64_t> dims) {
    SmallVector<OpFoldResult> out;
    for (int64_t d : dims)
      out.push_back(tensor::getMixedSize(b, loc, v, d));
    return out;
  }

  /// Zero-filled (or `init`-filled) f32 tensor of `v`'s dims `dims`.
  Value filled(Value v, ArrayRef<int64_t> dims, double init) {
    Value e = tensor::EmptyOp::create(b, loc, sizes(v, dims), f32);
    return linalg::FillOp::create(b, loc, cst(init), e).getResult(0);
  }

  Value toF32(Value v) {
    auto t = cast<RankedTensorType>(v.getType());
    if (t.getElementType() == f32)
      return v;
    return arith::ExtFOp::create(b, loc, t.clone(f32), v);
  }

  /// A linalg.generic over the full iteration space of `ins[0]` (rank r)
  /// with output indexed by `outDims` (a subset, in order) and payload
  /// `body(args..., acc) -> value`. Iterators not in outDims reduce.
  Value generic(ArrayRef<Value> ins, ArrayRef<SmallVector<int64_t>> inDims,
                Value init, ArrayRef<int64_t> outDims, int64_t rank,
                function_ref<Value(OpBuilder &, Location, ValueRange)> body) {
    MLIRContext *ctx = b.getContext();
    SmallVector<AffineMap> maps;
    auto mapOf = [&](ArrayRef<int64_t> dims) {
      SmallVector<AffineExpr> exprs;
      for (int64_t d : dims)
        exprs.push_back(getAffineDimExpr(d, ctx));
      return AffineMap::get(rank, 0, exprs, ctx);
    };
    for (auto &d : inDims)
      maps.push_back(mapOf(d));
    maps.push_back(mapOf(outDims));
    SmallVector<utils::IteratorType> iters(rank,
                                           utils::IteratorType::reduction);
    for (int64_t d : outDims)
      iters[d] = utils::IteratorType::parallel;
    auto op = linalg::GenericOp::create(
        b, loc, init.getType(), ins, ValueRange{init}, maps, iters,
        [&](OpBuilder &nb, Location nl, ValueRange args) {
          linalg::YieldOp::create(nb, nl, body(nb, nl, args));
        });
    return op.getResult(0);
  }
};

SmallVector<int64_t> iota(int64_t n) {
  SmallVector<int64_t> v;
  for (int64_t i = 0; i < n; ++i)
    v.push_back(i);
  return v;
}

/// Number of rows (product of all dims but the last) of `v` as an f32.
Value rowCount(Emitter &e, Value v) {
  auto t = cast<RankedTensorType>(v.getType());
  Value n = arith::ConstantIndexOp::create(e.b, e.loc, 1);
  for (int64_t d = 0; d + 1 < t.getRank(); ++d) {
    Value s = tensor::DimOp::create(e.b, e.loc, v, d);
    n = arith::MulIOp::create(e.b, e.loc, n, s);
  }
  Value i = arith::IndexCastOp::create(e.b, e.loc, e.b.getI64Type(), n);
  return arith::SIToFPOp::create(e.b, e.loc, e.f32, i);
}

/// log-sum-exp over the last dim of z (f32, rank r): returns lse[r-1 dims].
Value logSumExp(Emitter &e, Value z) {
  int64_t r = cast<RankedTensorType>(z.getType()).getRank();
  SmallVector<int64_t> lead = iota(r - 1), all = iota(r);
  Value mx = e.generic({z}, {all}, e.filled(z, lead, -INFINITY), lead, r,
                       [](OpBuilder &b, Location l, ValueRange a) -> Value {
                         return arith::MaxNumFOp::create(b, l, a[0], a[1]);
                       });
  Value se = e.generic({z, mx}, {all, lead}, e.filled(z, lead, 0.0), lead, r,
                       [](OpBuilder &b, Location l, ValueRange a) -> Value {
                         Value d = arith::SubFOp::create(b, l, a[0], a[1]);
                         Value x = math::ExpOp::create(b, l, d);
                         return arith::AddFOp::create(b, l, a[2], x);
                       });
  Value out = tensor::EmptyOp::create(e.b, e.loc, e.sizes(z, lead), e.f32);
  return e.generic({mx, se}, {lead, lead}, out, lead, r - 1,
                   [](OpBuilder &b, Location l, ValueRange a) -> Value {
                     Value lg = math::LogOp::create(b, l, a[1]);
                     return arith::AddFOp::create(b, l, a[0], lg);
                   });
}

/// Per-row L2 norm over the last dim, clamped below at 1e-12 (as
/// torch.nn.functional.normalize).
Value rowNorm(Emitter &e, Value q) {
  int64_t r = cast<RankedTensorType>(q.getType()).getRank();
  SmallVector<int64_t> lead = iota(r - 1), all = iota(r);
  Value ss = e.generic({q}, {all}, e.filled(q, lead, 0.0), lead, r,
                       [](OpBuilder &b, Location l, ValueRange a) -> Value {
                         Value sq = arith::MulFOp::create(b, l, a[0], a[0]);
                         return arith::AddFOp::create(b, l, a[1], sq);
                       });
  Value out = tensor::EmptyOp::create(e.b, e.loc, e.sizes(q, lead), e.f32);
  Value tiny = e.cst(1e-12);
  return e.generic({ss}, {lead}, out, lead, r - 1,
                   [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                     Value s = math::SqrtOp::create(b, l, a[0]);
                     return arith::MaxNumFOp::create(b, l, s, tiny);
                   });
}

Value scalarTensor(Emitter &e, Value s) {
  return tensor::FromElementsOp::create(
      e.b, e.loc, RankedTensorType::get({}, e.f32), ValueRange{s});
}

Value extractScalar(Emitter &e, Value t) {
  return tensor::ExtractOp::create(e.b, e.loc, t, ValueRange{});
}

/// L_CE = -(1/n) sum_tokens sum_c softmax(t/T)_c * log_softmax(s/T)_c for
/// student logits `s` and teacher logits `t`, `invT` = 1/T. `scalarInit` is
/// set to the zero rank-0 accumulator it creates, which L_MSE shares.
Value crossEntropy(Emitter &e, Value sLogits, Value tLogits, double invT,
                   Value &scalarInit) {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  Type f32 = e.f32;
  Value s = e.toF32(sLogits), t = e.toF32(tLogits);
  int64_t r = cast<RankedTensorType>(s.getType()).getRank();
  SmallVector<int64_t> lead = iota(r - 1), all = iota(r);
  auto scaled = [&](Value v) {
    Value out = tensor::EmptyOp::create(b, loc, e.sizes(v, all), f32);
    Value k = e.cst(invT);
    return e.generic({v}, {all}, out, all, r,
                     [&](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                       return arith::MulFOp::create(nb, nl, a[0], k);
                     });
  };
  Value zs = scaled(s), zt = scaled(t);
  Value lseS = logSumExp(e, zs), lseT = logSumExp(e, zt);
  scalarInit =
      linalg::FillOp::create(
          b, loc, e.cst(0.0),
          tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{}, f32).getResult())
          .getResult(0);
  Value crossSum =
      e.generic({zt, lseT, zs, lseS}, {all, lead, all, lead}, scalarInit, {}, r,
                [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                  Value pt = math::ExpOp::create(
                      nb, nl, arith::SubFOp::create(nb, nl, a[0], a[1]));
                  Value ls = arith::SubFOp::create(nb, nl, a[2], a[3]);
                  Value p = arith::MulFOp::create(nb, nl, pt, ls);
                  return arith::AddFOp::create(nb, nl, a[4], p);
                });
  Value rowsS = rowCount(e, s);
  return arith::NegFOp::create(
      b, loc, arith::DivFOp::create(b, loc, extractScalar(e, crossSum), rowsS));
}

/// L_MSE = sum_layers (1/n) sum_tokens || qT/|qT| - qS/|qS| ||^2 over the
/// student's and teacher's hidden states, pairwise.
Value hiddenStateMse(Emitter &e, ArrayRef<Value> student,
                     ArrayRef<Value> teacher, Value scalarInit) {
  OpBuilder &b = e.b;
  Location loc = e.loc;
  Value mse = e.cst(0.0);
  for (unsigned i = 0; i < student.size(); ++i) {
    Value qs = e.toF32(student[i]), qt = e.toF32(teacher[i]);
    int64_t rq = cast<RankedTensorType>(qs.getType()).getRank();
    SmallVector<int64_t> qlead = iota(rq - 1), qall = iota(rq);
    Value ns = rowNorm(e, qs), nt = rowNorm(e, qt);
    Value sq =
        e.generic({qt, nt, qs, ns}, {qall, qlead, qall, qlead}, scalarInit, {},
                  rq, [](OpBuilder &nb, Location nl, ValueRange a) -> Value {
                    Value ut = arith::DivFOp::create(nb, nl, a[0], a[1]);
                    Value us = arith::DivFOp::create(nb, nl, a[2], a[3]);
                    Value d = arith::SubFOp::create(nb, nl, ut, us);
                    Value d2 = arith::MulFOp::create(nb, nl, d, d);
                    return arith::AddFOp::create(nb, nl, a[4], d2);
                  });
    Value term =
        arith::DivFOp::create(b, loc, extractScalar(e, sq), rowCount(e, qs));
    mse = arith::AddFOp::create(b, loc, mse, term);
  }
  return mse;
}

/// `{onebit.name = name}`, how arguments and results of the generated
/// functions are named for the trainer and checkpoints.
DictionaryAttr nameAttr(MLIRContext *ctx, StringRef name) {
  return DictionaryAttr::get(
      ctx, {NamedAttribute(StringAttr::get(ctx, "onebit.name"),
                           StringAttr::get(ctx, name))});
}

/// Ties result `result` of `fn` to argument `arg` (`onebit.inplace_arg`):
/// after bufferization the result is written into the argument's buffer
/// and --onebit-drop-inplace-results drops it.
void tieToArgument(func::FuncOp fn, unsigned result, unsigned arg) {
  MLIRContext *ctx = fn.getContext();
  fn.setResultAttr(result, "onebit.inplace_arg",
                   IntegerAttr::get(IntegerType::get(ctx, 64), arg));
}

struct Param {
  std::string name;
  Attribute value;
  RankedTensorType type;
};

struct BuildTrainStepPass
    : public onebit::impl::OneBitBuildTrainStepBase<BuildTrainStepPass> {
  using Base::Base;

  func::FuncOp findStudent(ModuleOp module) {
    if (!funcName.empty()) {
      auto f = dyn_cast_or_null<func::FuncOp>(
          SymbolTable::lookupSymbolIn(module, funcName));
      if (!f)
        module.emitError() << "onebit-build-train-step: no func.func named '"
                           << funcName << "'";
      return f;
    }
    func::FuncOp only;
    unsigned count = 0;
    for (auto f : module.getOps<func::FuncOp>())
      if (f.isPublic() && !f.isExternal()) {
        only = f;
        ++count;
      }
    if (count != 1) {
      module.emitError() << "onebit-build-train-step: the module has " << count
                         << " public functions; name the forward function "
                            "with func=NAME";
      return {};
    }
    return only;
  }

  /// Appends the full-precision weights selected by `trainable` and
  /// `trainable-regex` to `params` (with every use in `student`).
  LogicalResult addFullPrecisionParams(
      func::FuncOp f, func::FuncOp student, SmallVector<Param> &params,
      SmallVector<SmallVector<OpOperand *>> &uses) {
    FpSelection sel;
    for (const std::string &t : trainable) {
      if (t == "embeddings")
        sel.embeddings = true;
      else if (t == "norms")
        sel.norms = true;
      else if (t == "head")
        sel.head = true;
      else
        return f.emitOpError()
               << "onebit-build-train-step: unknown trainable '" << t
               << "' (expected embeddings, norms or head)";
    }
    auto compile = [&](StringRef what, StringRef text,
                       std::optional<llvm::Regex> &re) -> LogicalResult {
      re.emplace(text, llvm::Regex::IgnoreCase);
      std::string error;
      if (!re->isValid(error))
        return f.emitOpError() << "onebit-build-train-step: " << what << " '"
                               << text << "' is invalid: " << error;
      return success();
    };
    if (sel.norms && failed(compile("norm-regex", normRegex, sel.normRe)))
      return failure();
    if (!trainableRegex.empty() &&
        failed(compile("trainable-regex", trainableRegex, sel.extraRe)))
      return failure();
    if (!sel.embeddings && !sel.norms && !sel.head && !sel.extraRe)
      return success();

    Operation *headWeight = nullptr;
    std::string headName;
    if (sel.head) {
      Block &blk = student.getBody().front();
      linalg::LinalgOp head =
          findHeadContraction(blk.getTerminator()->getOperand(0));
      if (head)
        for (OpOperand *in : head.getDpsInputOperands()) {
          Operation *def = in->get().getDefiningOp();
          auto t = dyn_cast<RankedTensorType>(in->get().getType());
          if (def && isa<arith::ConstantOp>(def) && t && t.getRank() == 2 &&
              t.getElementType().isF32())
            headWeight = def;
        }
      if (!headWeight)
        return f.emitOpError()
               << "onebit-build-train-step: trainable=head: the logits are "
                  "not produced by a contraction with a full-precision f32 "
                  "weight (a 1-bit head trains anyway)";
      std::string scope = scopeName(head);
      headName = scope.empty() ? getConstantName(headWeight) : scope + ".weight";
    }

    unsigned found[3] = {0, 0, 0};
    llvm::StringSet<> names;
    for (Param &p : params)
      names.insert(p.name);
    for (Operation &op : student.getBody().front()) {
      auto cst = dyn_cast<arith::ConstantOp>(op);
      if (!cst || cst->use_empty())
        continue;
      auto type = dyn_cast<RankedTensorType>(cst.getType());
      if (!type || !type.getElementType().isF32() || type.getRank() == 0)
        continue;
      if (auto dense = dyn_cast<DenseElementsAttr>(cst.getValue()))
        if (dense.isSplat())
          continue;
      std::string name = getConstantName(cst);
      bool isEmb = sel.embeddings && isGatherTable(cst.getResult());
      bool isHead = &op == headWeight;
      bool isNorm = sel.norms && type.getRank() == 1 && !name.empty() &&
                    sel.normRe->match(name);
      bool isExtra = sel.extraRe && !name.empty() && sel.extraRe->match(name);
      if (!isEmb && !isHead && !isNorm && !isExtra)
        continue;
      found[0] += isEmb;
      found[1] += isNorm;
      found[2] += isHead;
      if (isHead && !isEmb)
        name = headName;
      if (name.empty())
        name = "param" + std::to_string(params.size());
      std::string unique = name;
      for (int k = 1; names.contains(unique); ++k)
        unique = name + "." + std::to_string(k);
      names.insert(unique);
      params.push_back({unique, cst.getValue(), type});
      SmallVector<OpOperand *> u;
      for (OpOperand &use : cst->getUses())
        u.push_back(&use);
      uses.push_back(std::move(u));
    }
    if (sel.embeddings && !found[0])
      return f.emitOpError() << "onebit-build-train-step: trainable="
                                "embeddings: no f32 constant is read by a "
                                "gather";
    if (sel.norms && !found[1])
      return f.emitOpError()
             << "onebit-build-train-step: trainable=norms: no rank-1 f32 "
                "constant's name matches norm-regex '"
             << normRegex << "'";
    return success();
  }

  /// Checks that `f` can be the forward function and that none of the
  /// functions this pass adds exists yet.
  LogicalResult checkForward(ModuleOp module, func::FuncOp f) {
    std::string base = f.getSymName().str();
    if (f.getNumResults() < 1 || !isFloatTensor(f.getResultTypes()[0]) ||
        cast<RankedTensorType>(f.getResultTypes()[0]).getRank() < 2)
      return f.emitOpError()
             << "onebit-build-train-step: result #0 must be the logits, a "
                "float tensor of rank >= 2 (classes last)";
    if (!f.getBody().hasOneBlock())
      return f.emitOpError("onebit-build-train-step: the forward function "
                           "must have one block");
    for (StringRef sfx : {"_student", "_kd_loss", "_kd_loss_grad",
                          "_train_step", "_train_init", "_apply_update"})
      if (SymbolTable::lookupSymbolIn(module, base + sfx.str()))
        return module.emitError() << "onebit-build-train-step: a symbol named '"
                                  << base << sfx << "' already exists";
    return success();
  }

  /// The teacher: `<f>_teacher`, or, while `f` is full precision, the copy
  /// of it that quantizing the module keeps. Null after an error.
  func::FuncOp findOrMakeTeacher(ModuleOp module, func::FuncOp f) {
    std::string base = f.getSymName().str();
    auto teacher = dyn_cast_or_null<func::FuncOp>(
        SymbolTable::lookupSymbolIn(module, base + "_teacher"));
    bool quantized = false;
    f.walk([&](Operation *op) {
      quantized |= isa<BinaryLinearOp, BinaryLinearTrainOp>(op);
    });
    if (!teacher) {
      if (quantized) {
        f.emitOpError() << "onebit-build-train-step: '" << base
                        << "' is already quantized and there is no teacher "
                           "function '"
                        << base
                        << "_teacher'; quantize with "
                           "--onebit-quantize=\"keep-teacher=true\"";
        return {};
      }
      QuantizeConfig config;
      config.keepTeacher = true;
      if (failed(quantizeLinearLayers(module, config)))
        return {};
      teacher = dyn_cast_or_null<func::FuncOp>(
          SymbolTable::lookupSymbolIn(module, base + "_teacher"));
      if (!teacher) {
        module.emitError("onebit-build-train-step: quantization did not "
                         "produce a teacher");
        return {};
      }
    }
    if (teacher.getFunctionType() != f.getFunctionType()) {
      teacher.emitOpError()
          << "onebit-build-train-step: the teacher's type "
          << teacher.getFunctionType() << " differs from the student's "
          << f.getFunctionType();
      return {};
    }
    return teacher;
  }

  /// The location names of the hidden states L_MSE compares (the same in
  /// teacher and student): `hidden-states=`, else the decoder layers'
  /// outputs found in the teacher, without the last with
  /// mse-last-layer=false; none when alpha is 0.
  FailureOr<SmallVector<std::string>> selectTaps(func::FuncOp f,
                                                 func::FuncOp teacher) {
    SmallVector<std::string> taps;
    if (!hiddenStates.empty() && !mseLastLayer)
      return f.emitOpError() << "onebit-build-train-step: mse-last-layer=false "
                                "selects among the hidden states found from "
                                "layer-regex; hidden-states= names them "
                                "instead, so give one or the other";
    if (!hiddenStates.empty()) {
      taps.assign(hiddenStates.begin(), hiddenStates.end());
    } else if (alpha != 0.0) {
      FailureOr<SmallVector<std::string>> found =
          detectTaps(teacher, layerRegex);
      if (failed(found))
        return failure();
      taps = std::move(*found);
      if (!mseLastLayer && !taps.empty()) {
        if (taps.size() == 1)
          return f.emitOpError()
                 << "onebit-build-train-step: mse-last-layer=false leaves no "
                    "hidden state for L_MSE (the model has one decoder "
                    "layer, '"
                 << taps.front() << "'); set alpha=0 or name hidden-states=";
        taps.pop_back();
      }
      if (taps.empty()) {
        // Layer names live in locations, which .mlir text drops unless
        // printed with them: say so when no op has a name at all.
        bool anyName = false;
        teacher.walk([&](Operation *op) {
          anyName |= !locName(op->getLoc()).empty();
          return anyName ? WalkResult::interrupt() : WalkResult::advance();
        });
        auto diag = f.emitOpError()
                    << "onebit-build-train-step: found no decoder-layer "
                       "outputs for L_MSE (no op location matches "
                       "layer-regex '"
                    << layerRegex
                    << "'); name them with hidden-states=NAME,... or set "
                       "alpha=0";
        if (!anyName)
          diag << "; no op carries a location name at all: the layer names "
                  "were dropped when this module was printed as .mlir text "
                  "without locations (onebit-translate keeps them by "
                  "default; give onebit-opt --mlir-print-debuginfo, or use "
                  "bytecode)";
        return diag;
      }
    }
    return taps;
  }

  /// `@<f>_student`: `f` in training form with its trainable weights as
  /// leading arguments, described by `params` in argument order. Null after
  /// an error.
  func::FuncOp buildStudent(func::FuncOp f, SmallVector<Param> &params) {
    MLIRContext *ctx = &getContext();
    OpBuilder mb(ctx);
    mb.setInsertionPointAfter(f);
    auto student = cast<func::FuncOp>(mb.clone(*f));
    student.setSymName(f.getSymName().str() + "_student");
    student.setPrivate();
    SmallVector<BinaryLinearOp> packed;
    student.walk([&](BinaryLinearOp op) { packed.push_back(op); });
    for (BinaryLinearOp op : packed)
      if (failed(convertToTrainForm(op, latentScale)))
        return {};
    SmallVector<BinaryLinearTrainOp> layers;
    student.walk([&](BinaryLinearTrainOp op) { layers.push_back(op); });
    if (layers.empty()) {
      f.emitOpError("onebit-build-train-step: the student has no 1-bit "
                    "layers to train");
      return {};
    }
    SmallVector<SmallVector<OpOperand *>> paramUses;
    for (auto [i, op] : llvm::enumerate(layers)) {
      std::string prefix = paramPrefix(op, i);
      struct Slot {
        OpOperand &use;
        const char *suffix;
      } slots[] = {{op.getWeightMutable(), "latent"},
                   {op.getGMutable(), "g"},
                   {op.getHMutable(), "h"}};
      for (Slot &s : slots) {
        Attribute value;
        if (!matchPattern(s.use.get(), m_Constant(&value))) {
          op.emitOpError() << "onebit-build-train-step: the " << s.suffix
                           << " of this layer is not a constant";
          return {};
        }
        params.push_back({prefix + "." + s.suffix, value,
                          cast<RankedTensorType>(s.use.get().getType())});
        paramUses.push_back({&s.use});
      }
    }
    if (failed(addFullPrecisionParams(f, student, params, paramUses)))
      return {};

    SmallVector<unsigned> idx;
    SmallVector<Type> types;
    SmallVector<DictionaryAttr> attrs;
    SmallVector<Location> locs;
    for (Param &p : params) {
      idx.push_back(0);
      types.push_back(p.type);
      attrs.push_back(nameAttr(ctx, p.name));
      locs.push_back(student.getLoc());
    }
    if (failed(student.insertArguments(idx, types, attrs, locs)))
      return {};
    for (auto [i, uses] : llvm::enumerate(paramUses))
      for (OpOperand *use : uses)
        use->set(student.getArgument(i));
    // The constants the parameters replaced.
    SmallVector<Operation *> dead;
    for (Operation &op : student.getBody().front())
      if (isa<arith::ConstantOp>(op) && op.use_empty())
        dead.push_back(&op);
    for (Operation *op : dead)
      op->erase();
    return student;
  }

  /// `@<f>_kd_loss(params..., inputs...) -> (loss, l_ce, l_mse)`: teacher and
  /// student inlined on the same inputs, L_KD = L_CE + alpha * L_MSE over
  /// the hidden states `taps`. Null after an error.
  func::FuncOp buildKdLoss(func::FuncOp f, func::FuncOp student,
                           func::FuncOp teacher, ArrayRef<Param> params,
                           ArrayRef<std::string> taps) {
    MLIRContext *ctx = &getContext();
    SmallVector<Value> studentTaps, teacherTaps;
    for (const std::string &t : taps) {
      Value s = findTap(student, t), q = findTap(teacher, t);
      if (!s || !q) {
        f.emitOpError() << "onebit-build-train-step: hidden state '" << t
                        << "' not found in the "
                        << (!q ? "teacher" : "student");
        return {};
      }
      if (s.getType() != q.getType()) {
        f.emitOpError() << "onebit-build-train-step: hidden state '" << t
                        << "' has type " << s.getType() << " in the student "
                        << "but " << q.getType() << " in the teacher";
        return {};
      }
      studentTaps.push_back(s);
      teacherTaps.push_back(q);
    }

    Type f32 = Float32Type::get(ctx);
    auto scalarT = RankedTensorType::get({}, f32);
    SmallVector<Type> lossArgs;
    for (const Param &p : params)
      lossArgs.push_back(p.type);
    llvm::append_range(lossArgs, f.getArgumentTypes());
    Location loc = f.getLoc();
    OpBuilder mb(ctx);
    mb.setInsertionPointAfter(student);
    auto lossFn = func::FuncOp::create(
        mb, loc, f.getSymName().str() + "_kd_loss",
        FunctionType::get(ctx, lossArgs, {scalarT, scalarT, scalarT}));
    lossFn.setPrivate();
    SmallVector<Attribute> names;
    for (const std::string &t : taps)
      names.push_back(StringAttr::get(ctx, t));
    lossFn->setAttr("onebit.hidden_states", ArrayAttr::get(ctx, names));
    Block *body = lossFn.addEntryBlock();
    OpBuilder b = OpBuilder::atBlockBegin(body);
    auto inlineBody = [&](func::FuncOp fn, ValueRange args,
                          ArrayRef<Value> want, SmallVector<Value> &got) {
      IRMapping map;
      for (auto [a, v] : llvm::zip(fn.getArguments(), args))
        map.map(a, v);
      Operation *ret = fn.getBody().front().getTerminator();
      for (Operation &op : fn.getBody().front().without_terminator())
        b.clone(op, map);
      got.push_back(map.lookup(ret->getOperand(0)));
      for (Value v : want)
        got.push_back(map.lookup(v));
    };
    SmallVector<Value> sOut, tOut;
    inlineBody(student, body->getArguments(), studentTaps, sOut);
    inlineBody(teacher, body->getArguments().drop_front(params.size()),
               teacherTaps, tOut);

    Emitter e{b, loc, f32};
    Value scalarInit;
    Value ce = crossEntropy(e, sOut[0], tOut[0], 1.0 / temperature, scalarInit);
    Value mse = hiddenStateMse(e, ArrayRef<Value>(sOut).drop_front(),
                               ArrayRef<Value>(tOut).drop_front(), scalarInit);
    Value loss = arith::AddFOp::create(
        b, loc, ce, arith::MulFOp::create(b, loc, e.cst(alpha), mse));
    func::ReturnOp::create(b, loc,
                           ValueRange{scalarTensor(e, loss),
                                      scalarTensor(e, ce),
                                      scalarTensor(e, mse)});
    return lossFn;
  }

  /// Adam's per-step scalars: the bias corrections and the constants.
  struct AdamScalars {
    Value b1, b2, bc1, bc2, omb1, omb2, eps, wd;
  };
  AdamScalars emitAdamScalars(Emitter &e, Value stepN) {
    OpBuilder &b = e.b;
    Location loc = e.loc;
    AdamScalars k;
    Value one;
    k.b1 = e.cst(beta1), k.b2 = e.cst(beta2), one = e.cst(1.0);
    k.bc1 = arith::SubFOp::create(b, loc, one,
                                  math::PowFOp::create(b, loc, k.b1, stepN));
    k.bc2 = arith::SubFOp::create(b, loc, one,
                                  math::PowFOp::create(b, loc, k.b2, stepN));
    k.omb1 = e.cst(1.0 - beta1), k.omb2 = e.cst(1.0 - beta2);
    k.eps = e.cst(epsilon), k.wd = e.cst(weightDecay);
    return k;
  }

  /// One parameter's Adam update (decoupled weight decay):
  /// (p, g, m, v) -> (p', m', v') as one elementwise linalg.generic.
  /// With `inPlace`, (p, m, v) are the op's outputs (g its input), so that
  /// bufferization writes the new values into their buffers.
  /// With `momentType` (bf16) the moments m and v are of that type: read
  /// through extf, computed in f32, written back through truncf. A non-null
  /// `gradScale` (an f32 scalar) multiplies g first: the data-parallel
  /// update takes the sum of the ranks' and micro-batches' gradients and
  /// 1 / (R * N), so the summed buffer is not scaled into another copy.
  linalg::GenericOp emitAdamUpdate(OpBuilder &b, Location loc,
                                   RankedTensorType type, Value p, Value g,
                                   Value m, Value v, Value lr,
                                   const AdamScalars &k, bool inPlace = false,
                                   Type momentType = Type(),
                                   Value gradScale = nullptr) {
    MLIRContext *ctx = b.getContext();
    Type f32 = Float32Type::get(ctx);
    if (!momentType)
      momentType = f32;
    const bool narrow = momentType != f32;
    auto mType = RankedTensorType::get(type.getShape(), momentType);
    Value b1 = k.b1, b2 = k.b2, bc1 = k.bc1, bc2 = k.bc2, omb1 = k.omb1,
          omb2 = k.omb2, eps = k.eps, wd = k.wd;
    int64_t rank = type.getRank();
    auto id = AffineMap::getMultiDimIdentityMap(rank, ctx);
    SmallVector<Value> dynSizes; // of a dynamic slice (apply_update_slice)
    for (int64_t d = 0; d < rank; ++d)
      if (type.isDynamicDim(d))
        dynSizes.push_back(tensor::DimOp::create(b, loc, p, d));
    SmallVector<Value> ins{p, g, m, v}, outs;
    if (inPlace) {
      ins = {g};
      outs = {p, m, v};
    } else {
      for (int j = 0; j < 3; ++j)
        outs.push_back(tensor::EmptyOp::create(b, loc, type.getShape(),
                                               j ? momentType : f32, dynSizes));
    }
    SmallVector<AffineMap> maps(ins.size() + 3, id);
    SmallVector<utils::IteratorType> iters(rank,
                                           utils::IteratorType::parallel);
    return linalg::GenericOp::create(
        b, loc, TypeRange{type, mType, mType}, ins, outs, maps, iters,
        [&](OpBuilder &nb, Location nl, ValueRange args) {
          // (p, g, m, v) whichever operands hold them.
          SmallVector<Value> a =
              inPlace ? SmallVector<Value>{args[1], args[0], args[2], args[3]}
                      : SmallVector<Value>(args.take_front(4));
          if (narrow)
            for (int j : {2, 3})
              a[j] = arith::ExtFOp::create(nb, nl, f32, a[j]);
          if (gradScale)
            a[1] = arith::MulFOp::create(nb, nl, a[1], gradScale);
          // m' = b1 m + (1-b1) g; v' = b2 v + (1-b2) g^2
          Value m1 = arith::AddFOp::create(
              nb, nl, arith::MulFOp::create(nb, nl, b1, a[2]),
              arith::MulFOp::create(nb, nl, omb1, a[1]));
          Value g2 = arith::MulFOp::create(nb, nl, a[1], a[1]);
          Value v1 = arith::AddFOp::create(
              nb, nl, arith::MulFOp::create(nb, nl, b2, a[3]),
              arith::MulFOp::create(nb, nl, omb2, g2));
          // p' = p - lr * (m'/bc1 / (sqrt(v'/bc2) + eps) + wd * p)
          Value mh = arith::DivFOp::create(nb, nl, m1, bc1);
          Value vh = arith::DivFOp::create(nb, nl, v1, bc2);
          Value den = arith::AddFOp::create(
              nb, nl, math::SqrtOp::create(nb, nl, vh), eps);
          Value upd = arith::AddFOp::create(
              nb, nl, arith::DivFOp::create(nb, nl, mh, den),
              arith::MulFOp::create(nb, nl, wd, a[0]));
          Value p1 = arith::SubFOp::create(
              nb, nl, a[0], arith::MulFOp::create(nb, nl, lr, upd));
          if (narrow) {
            m1 = arith::TruncFOp::create(nb, nl, momentType, m1);
            v1 = arith::TruncFOp::create(nb, nl, momentType, v1);
          }
          linalg::YieldOp::create(nb, nl, ValueRange{p1, m1, v1});
        });
  }

  /// `@<f>_train_step(params..., adam_m..., adam_v..., inputs..., lr, step)`:
  /// calls `grad` and takes one Adam step (decoupled weight decay) on every
  /// parameter.
  func::FuncOp buildAdamStep(func::FuncOp f, func::FuncOp grad,
                             ArrayRef<Param> params) {
    MLIRContext *ctx = &getContext();
    unsigned numParams = params.size();
    unsigned numInputs = f.getNumArguments();
    // With split-update the trainer runs the gradient and the update
    // apart, and update-in-place applies to @<f>_apply_update: the fused
    // step is left as it was (it then calls the public gradient).
    const bool updateInPlace = this->updateInPlace && !splitUpdate;
    Type f32 = Float32Type::get(ctx);
    auto scalarT = RankedTensorType::get({}, f32);
    Location loc = f.getLoc();
    // The moments' element type (moments=bf16: half the state's bytes).
    Type momentType = moments == "bf16" ? Type(BFloat16Type::get(ctx)) : f32;
    auto stateType = [&](const Param &p, int k) -> Type {
      auto t = cast<RankedTensorType>(p.type);
      return k == 0 ? t : RankedTensorType::get(t.getShape(), momentType);
    };
    SmallVector<Type> stepArgs, stepResults;
    for (int k = 0; k < 3; ++k)
      for (const Param &p : params)
        stepArgs.push_back(stateType(p, k));
    llvm::append_range(stepArgs, f.getArgumentTypes());
    stepArgs.push_back(scalarT); // lr
    stepArgs.push_back(scalarT); // step (1-based)
    for (int k = 0; k < 3; ++k)
      for (const Param &p : params)
        stepResults.push_back(stateType(p, k));
    stepResults.append({scalarT, scalarT, scalarT});
    OpBuilder mb(ctx);
    mb.setInsertionPointAfter(grad);
    auto step =
        func::FuncOp::create(mb, loc, f.getSymName().str() + "_train_step",
                             FunctionType::get(ctx, stepArgs, stepResults));
    const char *kinds[] = {"", ".adam_m", ".adam_v"};
    unsigned a = 0;
    for (int k = 0; k < 3; ++k)
      for (const Param &p : params) {
        step.setArgAttrs(a, nameAttr(ctx, p.name + kinds[k]));
        step.setResultAttrs(a, nameAttr(ctx, p.name + kinds[k]));
        // Updated in place, the state is the caller's to keep between
        // steps (on a GPU: in device memory, which host code must not
        // touch; onebit-gpu-host-memory).
        if (updateInPlace) {
          step.setResultAttr(a, "onebit.inplace_arg",
                             IntegerAttr::get(IntegerType::get(ctx, 64), a));
          step.setArgAttr(a, "onebit.train_state", UnitAttr::get(ctx));
        }
        ++a;
      }
    for (unsigned i = 0; i < numInputs; ++i)
      if (auto d = f.getArgAttrDict(i))
        step.setArgAttrs(a + i, d);
    step.setArgAttrs(a + numInputs, nameAttr(ctx, "lr"));
    step.setArgAttrs(a + numInputs + 1, nameAttr(ctx, "step"));
    step.setResultAttrs(a, nameAttr(ctx, "loss"));
    step.setResultAttrs(a + 1, nameAttr(ctx, "l_ce"));
    step.setResultAttrs(a + 2, nameAttr(ctx, "l_mse"));

    Block *sb = step.addEntryBlock();
    OpBuilder b = OpBuilder::atBlockBegin(sb);
    Emitter e{b, loc, f32};
    SmallVector<Value> callArgs;
    for (unsigned i = 0; i < numParams; ++i)
      callArgs.push_back(sb->getArgument(i));
    for (unsigned i = 0; i < numInputs; ++i)
      callArgs.push_back(sb->getArgument(3 * numParams + i));
    SmallVector<Value> grads;
    if (!updateInPlace)
      llvm::append_range(
          grads, func::CallOp::create(b, loc, grad, callArgs).getResults());
    Value lr = extractScalar(e, sb->getArgument(3 * numParams + numInputs));
    Value stepN =
        extractScalar(e, sb->getArgument(3 * numParams + numInputs + 1));
    AdamScalars k = emitAdamScalars(e, stepN);
    // The losses and the gradients. Updating in place, the gradient's body
    // is cloned into the step and each parameter's update placed right
    // after its gradient is computed: the gradient's buffer is then freed
    // at once (onebit-free-after-last-use) instead of all the parameters'
    // gradients living until the end of the backward. A parameter is not
    // read after its gradient is made (the backward goes from the last
    // layer to the first); were it read later, bufferization would copy it
    // and onebit-drop-inplace-results would fail the compile.
    if (updateInPlace) {
      Block &body = grad.getBody().front();
      IRMapping map;
      for (auto [arg, value] : llvm::zip(body.getArguments(), callArgs))
        map.map(arg, value);
      for (Operation &op : body.without_terminator())
        b.clone(op, map);
      for (Value r : body.getTerminator()->getOperands())
        grads.push_back(map.lookupOrDefault(r));
    }
    SmallVector<Value> newP, newM, newV;
    for (unsigned i = 0; i < numParams; ++i) {
      auto adam = emitAdamUpdate(b, loc, params[i].type, sb->getArgument(i),
                                 grads[3 + i], sb->getArgument(numParams + i),
                                 sb->getArgument(2 * numParams + i), lr, k,
                                 updateInPlace, momentType);
      if (updateInPlace)
        if (Operation *def = grads[3 + i].getDefiningOp())
          adam->moveAfter(def);
      newP.push_back(adam.getResult(0));
      newM.push_back(adam.getResult(1));
      newV.push_back(adam.getResult(2));
    }
    SmallVector<Value> rets;
    llvm::append_range(rets, newP);
    llvm::append_range(rets, newM);
    llvm::append_range(rets, newV);
    rets.append({grads[0], grads[1], grads[2]});
    func::ReturnOp::create(b, loc, rets);
    return step;
  }

  /// `@<f>_apply_update(params..., adam_m..., adam_v..., grads..., lr,
  /// step, grad_scale) -> (params'..., adam_m'..., adam_v'...)`:
  /// `@<f>_train_step`'s Adam update on gradients given by the caller
  /// (split-update=true), times grad_scale. With update-in-place the new
  /// state is written into the params and moments arguments (the results
  /// are tied to them).
  func::FuncOp buildApplyUpdate(func::FuncOp f, func::FuncOp after,
                                ArrayRef<Param> params) {
    MLIRContext *ctx = &getContext();
    unsigned numParams = params.size();
    Type f32 = Float32Type::get(ctx);
    auto scalarT = RankedTensorType::get({}, f32);
    Location loc = f.getLoc();
    SmallVector<Type> args, results;
    for (int k = 0; k < 4; ++k)
      for (const Param &p : params)
        args.push_back(p.type);
    args.append({scalarT, scalarT, scalarT}); // lr, step (1-based), scale
    for (int k = 0; k < 3; ++k)
      for (const Param &p : params)
        results.push_back(p.type);
    OpBuilder mb(ctx);
    mb.setInsertionPointAfter(after);
    auto update =
        func::FuncOp::create(mb, loc, f.getSymName().str() + "_apply_update",
                             FunctionType::get(ctx, args, results));
    const char *kinds[] = {"", ".adam_m", ".adam_v", ".grad"};
    for (int k = 0; k < 4; ++k)
      for (auto [i, p] : llvm::enumerate(params)) {
        update.setArgAttrs(k * numParams + i, nameAttr(ctx, p.name + kinds[k]));
        if (k < 3) {
          update.setResultAttrs(k * numParams + i,
                                nameAttr(ctx, p.name + kinds[k]));
          if (updateInPlace)
            tieToArgument(update, k * numParams + i, k * numParams + i);
        }
      }
    update.setArgAttrs(4 * numParams, nameAttr(ctx, "lr"));
    update.setArgAttrs(4 * numParams + 1, nameAttr(ctx, "step"));
    update.setArgAttrs(4 * numParams + 2, nameAttr(ctx, "grad_scale"));
    Block *ub = update.addEntryBlock();
    OpBuilder b = OpBuilder::atBlockBegin(ub);
    Emitter e{b, loc, f32};
    Value lr = extractScalar(e, ub->getArgument(4 * numParams));
    Value stepN = extractScalar(e, ub->getArgument(4 * numParams + 1));
    Value scale = extractScalar(e, ub->getArgument(4 * numParams + 2));
    AdamScalars k = emitAdamScalars(e, stepN);
    SmallVector<Value> newP, newM, newV;
    for (unsigned i = 0; i < numParams; ++i) {
      auto adam = emitAdamUpdate(
          b, loc, params[i].type, ub->getArgument(i),
          ub->getArgument(3 * numParams + i), ub->getArgument(numParams + i),
          ub->getArgument(2 * numParams + i), lr, k, updateInPlace, Type(),
          scale);
      newP.push_back(adam.getResult(0));
      newM.push_back(adam.getResult(1));
      newV.push_back(adam.getResult(2));
    }
    SmallVector<Value> rets;
    llvm::append_range(rets, newP);
    llvm::append_range(rets, newM);
    llvm::append_range(rets, newV);
    func::ReturnOp::create(b, loc, rets);
    return update;
  }

  /// `@<f>_apply_update_slice(p, adam_m, adam_v, grad, lr, step,
  /// grad_scale) -> (p', adam_m', adam_v')` on 1-D tensors of any length:
  /// the same elementwise Adam update on a piece of the parameters laid end
  /// to end, for optimizer-state sharding (ZeRO-1: each rank updates its
  /// own slice); in place as @<f>_apply_update.
  void buildApplyUpdateSlice(func::FuncOp f, func::FuncOp after) {
    MLIRContext *ctx = &getContext();
    Type f32 = Float32Type::get(ctx);
    auto scalarT = RankedTensorType::get({}, f32);
    auto sliceT = RankedTensorType::get({ShapedType::kDynamic}, f32);
    Location loc = f.getLoc();
    SmallVector<Type> args(4, sliceT), results(3, sliceT);
    args.append({scalarT, scalarT, scalarT});
    OpBuilder mb(ctx);
    mb.setInsertionPointAfter(after);
    auto update = func::FuncOp::create(
        mb, loc, f.getSymName().str() + "_apply_update_slice",
        FunctionType::get(ctx, args, results));
    const char *names[] = {"params", "adam_m", "adam_v", "grads"};
    for (int k = 0; k < 4; ++k) {
      update.setArgAttrs(k, nameAttr(ctx, names[k]));
      if (k < 3) {
        update.setResultAttrs(k, nameAttr(ctx, names[k]));
        if (updateInPlace)
          tieToArgument(update, k, k);
      }
    }
    update.setArgAttrs(4, nameAttr(ctx, "lr"));
    update.setArgAttrs(5, nameAttr(ctx, "step"));
    update.setArgAttrs(6, nameAttr(ctx, "grad_scale"));
    Block *ub = update.addEntryBlock();
    OpBuilder b = OpBuilder::atBlockBegin(ub);
    Emitter e{b, loc, f32};
    Value lr = extractScalar(e, ub->getArgument(4));
    AdamScalars k = emitAdamScalars(e, extractScalar(e, ub->getArgument(5)));
    Value scale = extractScalar(e, ub->getArgument(6));
    auto adam = emitAdamUpdate(b, loc, sliceT, ub->getArgument(0),
                               ub->getArgument(3), ub->getArgument(1),
                               ub->getArgument(2), lr, k, updateInPlace,
                               Type(), scale);
    func::ReturnOp::create(b, loc, adam.getResults());
  }

  /// `func.func private @onebit_runtime_grad_ready(index)`, the runtime's
  /// (runtime/include/onebit/Runtime/GradReady.h), declared once.
  func::FuncOp declareGradReady() {
    ModuleOp module = getOperation();
    constexpr llvm::StringLiteral name = "onebit_runtime_grad_ready";
    if (auto f = module.lookupSymbol<func::FuncOp>(name))
      return f;
    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    MLIRContext *ctx = &getContext();
    auto f =
        func::FuncOp::create(b, module.getLoc(), name,
                             FunctionType::get(ctx, {IndexType::get(ctx)}, {}));
    f.setPrivate();
    return f;
  }

  /// grad-ready-calls: right after `into` (a gradient materialized in its
  /// destination), the destination's address goes to the runtime, which
  /// may start reducing it while the backward goes on. The buffer is read
  /// only (`read_only`), so bufferization neither copies it nor orders
  /// writes after it; the ops carry `into`'s location, so layer outlining
  /// takes them with it.
  void emitGradReadyCall(OpBuilder &b,
                         bufferization::MaterializeInDestinationOp into,
                         func::FuncOp readyFn) {
    Location loc = into.getLoc();
    auto type = cast<RankedTensorType>(into.getResult().getType());
    b.setInsertionPointAfter(into);
    Value buffer = bufferization::ToBufferOp::create(
        b, loc, MemRefType::get(type.getShape(), type.getElementType()),
        into.getResult(), /*readOnly=*/true);
    Value address =
        memref::ExtractAlignedPointerAsIndexOp::create(b, loc, buffer);
    func::CallOp::create(b, loc, readyFn, ValueRange{address});
  }

  /// grad-destinations: `grad` takes one more argument per parameter,
  /// `<name>.grad`, and writes that parameter's gradient into it
  /// (`bufferization.materialize_in_destination`; the result tied to the
  /// argument). Its callers in the module pass fresh tensors.
  void addGradientDestinations(func::FuncOp grad, ArrayRef<Param> params) {
    MLIRContext *ctx = &getContext();
    unsigned first = grad.getNumArguments();
    SmallVector<unsigned> at(params.size(), first);
    SmallVector<Type> types;
    SmallVector<DictionaryAttr> attrs;
    SmallVector<Location> locs(params.size(), grad.getLoc());
    for (const Param &p : params) {
      types.push_back(p.type);
      attrs.push_back(nameAttr(ctx, p.name + ".grad"));
    }
    (void)grad.insertArguments(at, types, attrs, locs);
    func::FuncOp readyFn = gradReadyCalls ? declareGradReady() : nullptr;
    auto ret = cast<func::ReturnOp>(grad.getBody().front().getTerminator());
    OpBuilder b(ret);
    for (unsigned i = 0; i < params.size(); ++i) {
      Value dest = grad.getArgument(first + i);
      Value value = ret.getOperand(3 + i);
      // Right after the gradient is made, with its op's location: the
      // layer's, so that the CPU pipeline's layer outlining takes the
      // materialization into the layer's function with its destination.
      Operation *def = value.getDefiningOp();
      if (def && def->getBlock() == ret->getBlock())
        b.setInsertionPointAfter(def);
      else
        b.setInsertionPoint(ret);
      auto into = bufferization::MaterializeInDestinationOp::create(
          b, def ? def->getLoc() : ret.getLoc(), value, dest);
      ret.setOperand(3 + i, into.getResult());
      tieToArgument(grad, 3 + i, first + i);
      if (gradReadyCalls)
        emitGradReadyCall(b, into, readyFn);
    }
    ModuleOp module = getOperation();
    SmallVector<func::CallOp> calls;
    module.walk([&](func::CallOp call) {
      if (call.getCallee() == grad.getSymName())
        calls.push_back(call);
    });
    for (func::CallOp call : calls) {
      OpBuilder cb(call);
      SmallVector<Value> operands(call.getOperands());
      for (Type t : types)
        operands.push_back(tensor::EmptyOp::create(
            cb, call.getLoc(), cast<RankedTensorType>(t).getShape(),
            cast<RankedTensorType>(t).getElementType()));
      auto repl = func::CallOp::create(cb, call.getLoc(), grad, operands);
      call.replaceAllUsesWith(repl.getResults());
      call.erase();
    }
  }

  /// `@<f>_train_init() -> (params...)`: the initial parameters (the SVID
  /// initialisation of the 1-bit layers, the selected FP weights as they
  /// were), after `step`.
  void buildTrainInit(func::FuncOp f, func::FuncOp step,
                      ArrayRef<Param> params) {
    MLIRContext *ctx = &getContext();
    Location loc = f.getLoc();
    SmallVector<Type> ptypes;
    for (const Param &p : params)
      ptypes.push_back(p.type);
    OpBuilder mb(ctx);
    mb.setInsertionPointAfter(step);
    auto init =
        func::FuncOp::create(mb, loc, f.getSymName().str() + "_train_init",
                             FunctionType::get(ctx, {}, ptypes));
    for (auto [i, p] : llvm::enumerate(params))
      init.setResultAttrs(i, nameAttr(ctx, p.name));
    OpBuilder b = OpBuilder::atBlockBegin(init.addEntryBlock());
    SmallVector<Value> initVals;
    for (const Param &p : params)
      initVals.push_back(arith::ConstantOp::create(
          b, NameLoc::get(StringAttr::get(ctx, p.name), loc),
          cast<TypedAttr>(p.value)));
    func::ReturnOp::create(b, loc, initVals);
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (moments != "f32" && moments != "bf16") {
      module.emitError() << "onebit-build-train-step: moments must be f32 or "
                            "bf16 (got '"
                         << moments << "')";
      return signalPassFailure();
    }
    if (moments == "bf16" && splitUpdate) {
      module.emitError() << "onebit-build-train-step: moments=bf16 applies "
                            "to the fused step; split-update keeps f32 "
                            "moments";
      return signalPassFailure();
    }
    if (gradReadyCalls && !gradDestinations) {
      module.emitError() << "onebit-build-train-step: grad-ready-calls "
                            "applies to a gradient with destinations "
                            "(grad-destinations=true)";
      return signalPassFailure();
    }
    if (gradDestinations && !splitUpdate) {
      module.emitError() << "onebit-build-train-step: grad-destinations "
                            "applies to the data-parallel gradient "
                            "(split-update=true)";
      return signalPassFailure();
    }
    func::FuncOp f = findStudent(module);
    if (!f || failed(checkForward(module, f)))
      return signalPassFailure();
    func::FuncOp teacher = findOrMakeTeacher(module, f);
    if (!teacher)
      return signalPassFailure();
    FailureOr<SmallVector<std::string>> taps = selectTaps(f, teacher);
    if (failed(taps))
      return signalPassFailure();
    SmallVector<Param> params;
    func::FuncOp student = buildStudent(f, params);
    if (!student)
      return signalPassFailure();
    func::FuncOp lossFn = buildKdLoss(f, student, teacher, params, *taps);
    if (!lossFn)
      return signalPassFailure();

    // The layers of the loss outlined first, so that reverse mode makes one
    // backward per layer form rather than one per layer.
    if (outlineLayers || checkpointActivations) {
      OpPassManager pm(ModuleOp::getOperationName());
      OneBitOutlineLayersOptions outline;
      outline.functions = {lossFn.getSymName().str()};
      pm.addPass(createOneBitOutlineLayers(outline));
      if (failed(runPipeline(pm, module)))
        return signalPassFailure();
    }

    // The loss's gradient with respect to the parameters (its leading
    // arguments), by reverse mode.
    GradientOptions gopts;
    gopts.name = f.getSymName().str() + "_kd_loss_grad";
    gopts.checkpoint = checkpointActivations;
    SmallVector<unsigned> wrt;
    for (unsigned i = 0; i < params.size(); ++i)
      wrt.push_back(i);
    FailureOr<func::FuncOp> grad = buildGradientFunction(lossFn, wrt, gopts);
    if (failed(grad))
      return signalPassFailure();
    (*grad).setPrivate();

    func::FuncOp step = buildAdamStep(f, *grad, params);
    buildTrainInit(f, step, params);
    // Updating in place, the step holds the gradient's body: the function
    // itself is left to the data-parallel entries, if any.
    if (updateInPlace && !splitUpdate) {
      std::optional<SymbolTable::UseRange> uses =
          SymbolTable::getSymbolUses(*grad, module);
      if (uses && uses->empty())
        (*grad).erase();
    }
    if (splitUpdate) {
      // Data-parallel training calls the gradient and the update itself.
      (*grad).setPublic();
      if (gradDestinations)
        addGradientDestinations(*grad, params);
      func::FuncOp update = buildApplyUpdate(f, step, params);
      buildApplyUpdateSlice(f, update);
    }
  }
};

} // namespace
