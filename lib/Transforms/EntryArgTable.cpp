//===- EntryArgTable.cpp - static buffers passed through one table --------===//
//
// Implements --onebit-entry-arg-table (Passes.td): a public function's
// memref arguments of static shape and identity layout are passed as
// addresses in one `memref<N x index>` table argument instead of one
// descriptor each. A layer loop's `scf.index_switch` that picks argument
// a + b * i in iteration i reads the table at that index instead.
//
//===----------------------------------------------------------------------===//

#include "onebit/Transforms/Passes.h"

#include "Progression.h"
#include "SwitchResults.h"

#include "mlir/Conversion/LLVMCommon/MemRefBuilder.h"
#include "mlir/Conversion/LLVMCommon/TypeConverter.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/BitVector.h"

namespace onebit {
#define GEN_PASS_DEF_ONEBITENTRYARGTABLE
#include "onebit/Transforms/Passes.h.inc"
} // namespace onebit

using namespace mlir;

namespace {

constexpr StringLiteral kArgTable = "onebit.arg_table";

/// A buffer that is its address: static shape, identity layout, default
/// memory space.
bool isTableable(Type type) {
  auto m = dyn_cast<MemRefType>(type);
  return m && m.hasStaticShape() && m.getLayout().isIdentity() &&
         !m.getMemorySpace();
}

/// The values `v` can take: an `scf.for` induction variable with constant
/// bounds and step, or a constant.
std::optional<SmallVector<int64_t>> valuesOf(Value v) {
  if (auto c = getConstantIntValue(v))
    return SmallVector<int64_t>{*c};
  auto arg = dyn_cast<BlockArgument>(v);
  auto loop =
      arg ? dyn_cast<scf::ForOp>(arg.getOwner()->getParentOp()) : nullptr;
  if (!loop || loop.getInductionVar() != v)
    return std::nullopt;
  auto lb = getConstantIntValue(loop.getLowerBound()),
       ub = getConstantIntValue(loop.getUpperBound()),
       step = getConstantIntValue(loop.getStep());
  if (!lb || !ub || !step || *step <= 0 || *ub - *lb > (int64_t(1) << 20))
    return std::nullopt;
  SmallVector<int64_t> values;
  for (int64_t i = *lb; i < *ub; i += *step)
    values.push_back(i);
  return values;
}

class EntryArgTable
    : public onebit::impl::OneBitEntryArgTableBase<EntryArgTable> {
public:
  void runOnOperation() override {
    LLVMTypeConverter typeConverter(&getContext());
    converter = &typeConverter;
    // Entries only: a public function that the module also calls keeps
    // its signature (its callers pass descriptors).
    ModuleOp module = getOperation();
    for (auto fn : module.getOps<func::FuncOp>())
      if (fn.isPublic() && !fn.isDeclaration() &&
          SymbolTable::symbolKnownUseEmpty(fn, module))
        rewrite(fn);
  }

private:
  /// The buffer of type `type` at the address in `table`[`slot`].
  Value view(OpBuilder &b, Location loc, Value table, Value slot,
             MemRefType type) {
    Value address = memref::LoadOp::create(b, loc, table, slot);
    Value word = arith::IndexCastOp::create(b, loc, b.getI64Type(), address);
    Value ptr = LLVM::IntToPtrOp::create(
        b, loc, LLVM::LLVMPointerType::get(b.getContext()), word);
    Value desc =
        MemRefDescriptor::fromStaticShape(b, loc, *converter, type, ptr);
    return UnrealizedConversionCastOp::create(b, loc, type, desc).getResult(0);
  }

  /// Replaces the results of `op` that pick table argument a + b * i for
  /// every value i of its operand by a load of the table, and `op` by a
  /// switch without them.
  void rewriteSwitch(scf::IndexSwitchOp op, Block &entry,
                     const llvm::BitVector &tabled, Value table) {
    std::optional<SmallVector<int64_t>> values = valuesOf(op.getArg());
    if (!values || values->empty())
      return;
    // The terminator of the region each value of the operand runs.
    ArrayRef<int64_t> cases = op.getCases();
    SmallVector<Operation *> yields;
    for (int64_t v : *values) {
      const auto *k = llvm::find(cases, v);
      Region &region = k == cases.end()
                           ? op.getDefaultRegion()
                           : op.getCaseRegions()[k - cases.begin()];
      yields.push_back(region.front().getTerminator());
    }
    llvm::BitVector replaced(op.getNumResults());
    OpBuilder b(op);
    for (unsigned r = 0; r < op.getNumResults(); ++r) {
      auto type = dyn_cast<MemRefType>(op.getResult(r).getType());
      if (!type || op.getResult(r).use_empty())
        continue;
      // The argument each value of the operand picks.
      SmallVector<int64_t> slots;
      for (Operation *yield : yields) {
        Value y = yield->getOperand(r);
        auto arg = dyn_cast<BlockArgument>(y);
        if (!arg || arg.getOwner() != &entry ||
            !tabled.test(arg.getArgNumber()) || arg.getType() != type)
          break;
        slots.push_back(arg.getArgNumber());
      }
      if (slots.size() != values->size())
        continue;
      // slot = a + step * v.
      int64_t step = 0;
      if (values->size() > 1) {
        int64_t dv = (*values)[1] - (*values)[0], ds = slots[1] - slots[0];
        if (ds % dv)
          continue;
        step = ds / dv;
      }
      const int64_t a = slots[0] - step * (*values)[0];
      bool affine = true;
      for (auto [v, s] : llvm::zip(*values, slots))
        affine &= s == a + step * v;
      if (!affine)
        continue;
      Location loc = op.getLoc();
      Value slot = onebit::buildProgression(
          b, loc, b.getIndexType(), op.getArg(),
          APInt(64, a, /*isSigned=*/true), APInt(64, step, /*isSigned=*/true));
      op.getResult(r).replaceAllUsesWith(view(b, loc, table, slot, type));
      replaced.set(r);
    }
    if (replaced.any())
      onebit::dropSwitchResults(op, replaced);
  }

  void rewrite(func::FuncOp fn) {
    Block &entry = fn.front();
    const unsigned n = fn.getNumArguments();
    llvm::BitVector tabled(n);
    SmallVector<int64_t> positions;
    for (unsigned k = 0; k < n; ++k)
      if (isTableable(fn.getArgument(k).getType())) {
        tabled.set(k);
        positions.push_back(k);
      }
    if (positions.empty())
      return;
    MLIRContext *ctx = fn.getContext();
    auto tableType = MemRefType::get({int64_t(n)}, IndexType::get(ctx));
    if (failed(fn.insertArgument(n, tableType, DictionaryAttr::get(ctx),
                                 fn.getLoc())))
      return signalPassFailure();
    Value table = fn.getArgument(n);
    SmallVector<scf::IndexSwitchOp> switches;
    fn.walk([&](scf::IndexSwitchOp op) { switches.push_back(op); });
    for (scf::IndexSwitchOp op : switches)
      rewriteSwitch(op, entry, tabled, table);
    // The other uses read the table once, at the start.
    OpBuilder b = OpBuilder::atBlockBegin(&entry);
    for (int64_t k : positions) {
      BlockArgument arg = fn.getArgument(k);
      if (arg.use_empty())
        continue;
      Location loc = arg.getLoc();
      Value slot = arith::ConstantIndexOp::create(b, loc, k);
      arg.replaceAllUsesWith(
          view(b, loc, table, slot, cast<MemRefType>(arg.getType())));
    }
    tabled.resize(n + 1);
    if (failed(fn.eraseArguments(tabled)))
      return signalPassFailure();
    fn->setAttr(kArgTable, DenseI64ArrayAttr::get(ctx, positions));
  }

  /// Memref descriptors as the conversion to LLVM lays them out.
  const LLVMTypeConverter *converter = nullptr;
};

} // namespace
