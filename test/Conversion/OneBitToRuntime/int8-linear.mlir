// RUN: onebit-opt %s --split-input-file --convert-onebit-to-runtime | FileCheck %s

// CHECK: func.func private @onebit_int8_linear_f32(memref<?x?xf32>, memref<?x?xi8>, memref<?xf32>, memref<?xf32>, memref<?x?xf32>) attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @batched
// CHECK-SAME: (%[[X:.*]]: tensor<2x?x100xf32>, %[[W:.*]]: tensor<63x100xi8>, %[[S:.*]]: tensor<63xf32>, %[[B:.*]]: tensor<63xf32>)
// CHECK-DAG: %[[BB:.*]] = bufferization.to_buffer %[[B]] read_only
// CHECK-DAG: %[[OUT:.*]] = memref.alloc(%{{.*}}) : memref<2x?x63xf32>
// CHECK-DAG: memref.collapse_shape %[[OUT]] {{\[\[}}0, 1], [2]]
// CHECK-DAG: %[[WB:.*]] = bufferization.to_buffer %[[W]] read_only
// CHECK-DAG: memref.cast %[[WB]] : memref<63x100xi8> to memref<?x?xi8>
// CHECK: call @onebit_int8_linear_f32(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}})
// CHECK: %[[Y:.*]] = bufferization.to_tensor %[[OUT]] restrict writable : memref<2x?x63xf32> to tensor<2x?x63xf32>
// CHECK: return %[[Y]]
func.func @batched(%x: tensor<2x?x100xf32>, %w: tensor<63x100xi8>, %s: tensor<63xf32>, %b: tensor<63xf32>) -> tensor<2x?x63xf32> {
  %y = onebit.int8_linear %x, %w, %s bias %b : (tensor<2x?x100xf32>, tensor<63x100xi8>, tensor<63xf32>, tensor<63xf32>) -> tensor<2x?x63xf32>
  return %y : tensor<2x?x63xf32>
}

// -----

// f16 activations are widened for the kernel and the result narrowed back;
// no bias is an empty vector.
// CHECK-LABEL: func.func @half
// CHECK: arith.extf %{{.*}} : f16 to f32
// CHECK: memref.alloca() : memref<0xf32>
// CHECK: call @onebit_int8_linear_f32
// CHECK: arith.truncf %{{.*}} : f32 to f16
func.func @half(%x: tensor<3x40xf16>, %w: tensor<24x40xi8>, %s: tensor<24xf32>) -> tensor<3x24xf16> {
  %y = onebit.int8_linear %x, %w, %s : (tensor<3x40xf16>, tensor<24x40xi8>, tensor<24xf32>) -> tensor<3x24xf16>
  return %y : tensor<3x24xf16>
}
