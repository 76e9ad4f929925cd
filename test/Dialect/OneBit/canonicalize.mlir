// RUN: onebit-opt %s --split-input-file --canonicalize | FileCheck %s

// pack_signs of a constant folds to the packed words: row 0 = [1, -2, 0, -0.5]
// gives bits 1 and 3 (0b1010 = 10), row 1 = [-1, -1, -1, 3] gives 0b0111 = 7.
// CHECK-LABEL: func.func @fold_dense
// CHECK-NOT: onebit.pack_signs
// CHECK: %[[C:.*]] = arith.constant dense<{{\[\[}}10], [7]]> : tensor<2x1xi32>
// CHECK: return %[[C]]
func.func @fold_dense() -> tensor<2x1xi32> {
  %w = arith.constant dense<[[1.0, -2.0, 0.0, -0.5], [-1.0, -1.0, -1.0, 3.0]]> : tensor<2x4xf32>
  %p = onebit.pack_signs %w layout <word_bits = 32, bit_order = lsb_first, negative = 1> : tensor<2x4xf32> -> tensor<2x1xi32>
  return %p : tensor<2x1xi32>
}

// -----

// Other layouts fold too: bit 0 means -1, MSB first in bytes.
// Row [-1, 2, 3, 4, 5, 6, 7, -8, 9]: +1 bits at columns 1..6 and 8 -> byte 0
// = 0b01111110 = 126, byte 1 = 0b10000000 = -128 as i8.
// CHECK-LABEL: func.func @fold_msb
// CHECK: arith.constant dense<{{\[\[}}126, -128]]> : tensor<1x2xi8>
func.func @fold_msb() -> tensor<1x2xi8> {
  %w = arith.constant dense<[[-1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, -8.0, 9.0]]> : tensor<1x9xf16>
  %p = onebit.pack_signs %w layout <word_bits = 8, bit_order = msb_first, negative = 0> : tensor<1x9xf16> -> tensor<1x2xi8>
  return %p : tensor<1x2xi8>
}

// -----

// A splat folds as well.
// CHECK-LABEL: func.func @fold_splat
// CHECK: arith.constant dense<-1> : tensor<3x1xi32>
func.func @fold_splat() -> tensor<3x1xi32> {
  %w = arith.constant dense<-0.25> : tensor<3x32xbf16>
  %p = onebit.pack_signs %w layout <word_bits = 32, bit_order = lsb_first, negative = 1> : tensor<3x32xbf16> -> tensor<3x1xi32>
  return %p : tensor<3x1xi32>
}

// -----

// dense_resource weights fold into a new dense_resource named after them.
// CHECK-LABEL: func.func @fold_resource
// CHECK: arith.constant dense_resource<w.signs> : tensor<1x1xi32>
// CHECK: w.signs: "0x0800000005000000"
func.func @fold_resource() -> tensor<1x1xi32> {
  %w = arith.constant dense_resource<w> : tensor<1x3xf32>
  %p = onebit.pack_signs %w layout <word_bits = 32, bit_order = lsb_first, negative = 1> : tensor<1x3xf32> -> tensor<1x1xi32>
  return %p : tensor<1x1xi32>
}
{-#
  dialect_resources: {
    builtin: {
      w: "0x04000000000080BF0000803F000000C0"
    }
  }
#-}

// -----

// NaN weights are not folded: the sign of NaN is meaningless.
// CHECK-LABEL: func.func @no_fold_nan
// CHECK: onebit.pack_signs
func.func @no_fold_nan() -> tensor<1x1xi32> {
  %w = arith.constant dense<[[1.0, 0x7FC00000]]> : tensor<1x2xf32>
  %p = onebit.pack_signs %w layout <word_bits = 32, bit_order = lsb_first, negative = 1> : tensor<1x2xf32> -> tensor<1x1xi32>
  return %p : tensor<1x1xi32>
}

// -----

// pack(unpack(x)) with the same layout is x.
// CHECK-LABEL: func.func @pack_of_unpack
// CHECK-SAME: (%[[S:.*]]: tensor<4x2xi32>)
// CHECK-NEXT: return %[[S]]
func.func @pack_of_unpack(%s: tensor<4x2xi32>) -> tensor<4x2xi32> {
  %u = onebit.unpack_signs %s layout <word_bits = 32, bit_order = lsb_first, negative = 1> : tensor<4x2xi32> -> tensor<4x40xf32>
  %p = onebit.pack_signs %u layout <word_bits = 32, bit_order = lsb_first, negative = 1> : tensor<4x40xf32> -> tensor<4x2xi32>
  return %p : tensor<4x2xi32>
}

// -----

// ... but not across layouts.
// CHECK-LABEL: func.func @pack_of_unpack_other_layout
// CHECK: onebit.unpack_signs
// CHECK: onebit.pack_signs
func.func @pack_of_unpack_other_layout(%s: tensor<4x2xi32>) -> tensor<4x2xi32> {
  %u = onebit.unpack_signs %s layout <word_bits = 32, bit_order = lsb_first, negative = 1> : tensor<4x2xi32> -> tensor<4x40xf32>
  %p = onebit.pack_signs %u layout <word_bits = 32, bit_order = lsb_first, negative = 0> : tensor<4x40xf32> -> tensor<4x2xi32>
  return %p : tensor<4x2xi32>
}

// -----

// Unused binary layers are dead code (the op is Pure).
// CHECK-LABEL: func.func @dead
// CHECK-NOT: onebit.binary_linear
func.func @dead(%x: tensor<2x8xf32>, %s: tensor<4x1xi32>, %g: tensor<8xf32>, %h: tensor<4xf32>) {
  %y = onebit.binary_linear %x, %s, %g, %h layout <word_bits = 32, bit_order = lsb_first, negative = 1> : (tensor<2x8xf32>, tensor<4x1xi32>, tensor<8xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  return
}
