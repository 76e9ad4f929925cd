// RUN: onebit-opt %s --split-input-file --convert-onebit-to-runtime | FileCheck %s

// CHECK: func.func private @onebit_binary_linear_f32(memref<?x?xf32>, memref<?x?xi32>, memref<?xf32>, memref<?xf32>, memref<?xf32>, f32, memref<?x?xf32>) attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @batched
// CHECK-SAME: (%[[X:.*]]: tensor<2x?x100xf32>, %[[S:.*]]: tensor<63x4xi32>, %[[G:.*]]: tensor<100xf32>, %[[H:.*]]: tensor<63xf32>, %[[B:.*]]: tensor<63xf32>)
// CHECK-DAG: %[[BB:.*]] = bufferization.to_buffer %[[B]] read_only
// CHECK-DAG: %[[EPS:.*]] = arith.constant 9.99999974E-6 : f32
// CHECK-DAG: %[[OUT:.*]] = memref.alloc(%{{.*}}) : memref<2x?x63xf32>
// CHECK-DAG: memref.collapse_shape %[[OUT]] {{\[\[}}0, 1], [2]]
// CHECK-DAG: %[[XB:.*]] = bufferization.to_buffer %[[X]] read_only
// CHECK-DAG: %[[XD:.*]] = memref.cast %[[XB]] : memref<2x?x100xf32> to memref<?x?x?xf32>
// CHECK-DAG: memref.collapse_shape %[[XD]] {{\[\[}}0, 1], [2]]
// CHECK: call @onebit_binary_linear_f32(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[EPS]], %{{.*}})
// CHECK: %[[Y:.*]] = bufferization.to_tensor %[[OUT]] restrict writable : memref<2x?x63xf32> to tensor<2x?x63xf32>
// CHECK: return %[[Y]]
func.func @batched(%x: tensor<2x?x100xf32>, %s: tensor<63x4xi32>, %g: tensor<100xf32>, %h: tensor<63xf32>, %b: tensor<63xf32>) -> tensor<2x?x63xf32> {
  %y = onebit.binary_linear %x, %s, %g, %h bias %b layout <word_bits = 32, bit_order = lsb_first, negative = 1> norm_eps = 1.0e-05
      : (tensor<2x?x100xf32>, tensor<63x4xi32>, tensor<100xf32>, tensor<63xf32>, tensor<63xf32>) -> tensor<2x?x63xf32>
  return %y : tensor<2x?x63xf32>
}

// -----

// f16 operands are widened for the kernel and the result narrowed back; no
// bias is an empty vector, no post-norm is eps 0.
// CHECK-LABEL: func.func @half
// CHECK: arith.extf %{{.*}} : f16 to f32
// CHECK-DAG: memref.alloca() : memref<0xf32>
// CHECK-DAG: %[[Z:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: call @onebit_binary_linear_f32(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[Z]], %{{.*}})
// CHECK: arith.truncf %{{.*}} : f32 to f16
func.func @half(%x: tensor<3x40xf16>, %s: tensor<24x2xi32>, %g: tensor<40xf16>, %h: tensor<24xf16>) -> tensor<3x24xf16> {
  %y = onebit.binary_linear %x, %s, %g, %h layout <word_bits = 32, bit_order = lsb_first, negative = 1> : (tensor<3x40xf16>, tensor<24x2xi32>, tensor<40xf16>, tensor<24xf16>) -> tensor<3x24xf16>
  return %y : tensor<3x24xf16>
}

// -----

// A vector input is one row.
// CHECK-LABEL: func.func @vector
// CHECK: memref.expand_shape %{{.*}} {{\[\[}}0, 1]] output_shape [1, 24] : memref<24xf32> into memref<1x24xf32>
// CHECK: memref.expand_shape %{{.*}} {{\[\[}}0, 1]] output_shape [1, %{{.*}}] : memref<?xf32> into memref<1x?xf32>
func.func @vector(%x: tensor<40xf32>, %s: tensor<24x2xi32>, %g: tensor<40xf32>, %h: tensor<24xf32>) -> tensor<24xf32> {
  %y = onebit.binary_linear %x, %s, %g, %h layout <word_bits = 32, bit_order = lsb_first, negative = 1> : (tensor<40xf32>, tensor<24x2xi32>, tensor<40xf32>, tensor<24xf32>) -> tensor<24xf32>
  return %y : tensor<24xf32>
}
