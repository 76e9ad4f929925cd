//===- SymbolReach.cpp - The symbols some entries reach -------------------===//

#include "onebit/Support/SymbolReach.h"

#include "mlir/IR/AttrTypeSubElements.h"
#include "mlir/IR/SymbolTable.h"

using namespace mlir;

namespace onebit {

LogicalResult reachSymbols(ModuleOp module, ArrayRef<Operation *> roots,
                           llvm::DenseSet<Operation *> &reached,
                           function_ref<LogicalResult(Operation *)> visit) {
  SymbolTable table(module);
  SmallVector<Operation *> work;
  auto reach = [&](Operation *op) {
    if (op && reached.insert(op).second)
      work.push_back(op);
  };
  for (Operation *op : roots)
    reach(op);
  // One walker for the whole walk: it remembers each attribute and type it
  // has been through, and the ops of a model share most of theirs (types,
  // indexing maps, iterator kinds), so each is read once.
  AttrTypeWalker walker;
  walker.addWalk(
      [&](SymbolRefAttr ref) { reach(table.lookup(ref.getRootReference())); });
  auto readOp = [&](Operation *op) {
    // Inherent attributes one by one: building an op's whole attribute
    // dictionary uniques a new one for each op with properties.
    for (StringAttr name : op->getName().getAttributeNames())
      if (std::optional<Attribute> a = op->getInherentAttr(name); a && *a)
        walker.walk(*a);
    for (NamedAttribute a : op->getDiscardableAttrs())
      walker.walk(a.getValue());
  };
  while (!work.empty()) {
    Operation *op = work.pop_back_val();
    if (failed(visit(op)))
      return failure();
    op->walk([&](Operation *nested) { readOp(nested); });
  }
  return success();
}

} // namespace onebit
