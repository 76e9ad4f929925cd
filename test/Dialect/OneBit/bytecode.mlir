// Bytecode round trip of every onebit op and attribute, including packed
// constants held in dense_resource blobs.
// RUN: onebit-opt %s --emit-bytecode | onebit-opt | FileCheck %s
// RUN: onebit-opt %s --emit-bytecode | onebit-opt --emit-bytecode | onebit-opt | FileCheck %s

// CHECK-LABEL: func.func @all
// CHECK: %[[S:.*]] = arith.constant dense_resource<layer.signs> : tensor<3x1xi32>
// CHECK: onebit.binary_linear %{{.*}}, %[[S]], %{{.*}}, %{{.*}} bias %{{.*}} layout <word_bits = 32, bit_order = lsb_first, negative = 1> norm_eps = 1.000000e-05
// CHECK: onebit.pack_signs %{{.*}} layout <word_bits = 8, bit_order = msb_first, negative = 0> : tensor<3x10xf32> -> tensor<3x2xi8>
// CHECK: onebit.unpack_signs %{{.*}} layout <word_bits = 8, bit_order = msb_first, negative = 0> : tensor<3x2xi8> -> tensor<3x10xf32>
// CHECK: layer.signs: "0x04000000050000000600000007000000"
func.func @all(%x: tensor<2x10xf32>, %g: tensor<10xf32>, %h: tensor<3xf32>, %b: tensor<3xf32>, %w: tensor<3x10xf32>) -> (tensor<2x3xf32>, tensor<3x10xf32>) {
  %s = arith.constant dense_resource<layer.signs> : tensor<3x1xi32>
  %y = onebit.binary_linear %x, %s, %g, %h bias %b layout <word_bits = 32, bit_order = lsb_first, negative = 1> norm_eps = 1.0e-05
      : (tensor<2x10xf32>, tensor<3x1xi32>, tensor<10xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %p = onebit.pack_signs %w layout <word_bits = 8, bit_order = msb_first, negative = 0> : tensor<3x10xf32> -> tensor<3x2xi8>
  %u = onebit.unpack_signs %p layout <word_bits = 8, bit_order = msb_first, negative = 0> : tensor<3x2xi8> -> tensor<3x10xf32>
  return %y, %u : tensor<2x3xf32>, tensor<3x10xf32>
}

{-#
  dialect_resources: {
    builtin: {
      layer.signs: "0x04000000050000000600000007000000"
    }
  }
#-}
