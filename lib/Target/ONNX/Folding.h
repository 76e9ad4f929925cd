//===- Folding.h - index arithmetic for the ONNX importer's fold rules ---===//
//
// The fold rules registered next to each op's converter evaluate shape
// subgraphs on Importer::known, and several converters compute sizes the
// same way. These helpers fold constants and emit arith ops on index values
// only when an operand is dynamic, so static shapes leave no IR behind.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_LIB_TARGET_ONNX_FOLDING_H
#define ONEBIT_LIB_TARGET_ONNX_FOLDING_H

#include "Importer.h"

namespace onebit::onnx_import {

/// The integer operations that fold on known elements and sizes.
enum class IOp { Add, Sub, Mul, Div, Max, Min };

/// `a op c` on constants, wrapping like arith.addi/subi/muli at run time.
int64_t applyConst(IOp op, int64_t a, int64_t c);
/// `a op c` on known elements: a constant when both are, else an arith op
/// on index values (keeping x*1, x+0, x/1 as x).
KnownElt applyElt(Importer &im, IOp op, const KnownElt &a, const KnownElt &c);
OpFoldResult toOFR(Importer &im, const KnownElt &e);
KnownElt fromOFR(OpFoldResult ofr);
/// applyElt on sizes.
OpFoldResult arithOFR(Importer &im, IOp op, OpFoldResult a, OpFoldResult c);

/// The result shape and element count of broadcasting two known rank <= 1
/// tensors elementwise; false if their sizes are incompatible.
bool broadcast2(const KnownInts &a, const KnownInts &c,
                SmallVectorImpl<int64_t> &shape, size_t &n);

} // namespace onebit::onnx_import

#endif // ONEBIT_LIB_TARGET_ONNX_FOLDING_H
