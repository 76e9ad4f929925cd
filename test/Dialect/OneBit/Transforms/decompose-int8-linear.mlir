// RUN: onebit-opt %s --split-input-file --onebit-decompose-int8-linear | FileCheck %s

// One contraction reading the int8 weights directly (sitofp in the payload),
// then * scale + bias; f16 activations are computed in f32.
// CHECK-DAG: #[[X:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[W:.*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-DAG: #[[O:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-DAG: #[[ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[F:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func.func @half_bias
// CHECK-SAME: (%[[XA:.*]]: tensor<?x40xf16>, %[[WA:.*]]: tensor<24x40xi8>, %[[SA:.*]]: tensor<24xf32>, %[[BA:.*]]: tensor<24xf16>)
// CHECK-NOT: onebit.int8_linear
// CHECK: %[[ACC0:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<?x24xf32>)
// CHECK: %[[ACC:.*]] = linalg.generic {indexing_maps = [#[[X]], #[[W]], #[[O]]], iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[XA]], %[[WA]] : tensor<?x40xf16>, tensor<24x40xi8>) outs(%[[ACC0]] : tensor<?x24xf32>)
// CHECK: ^bb0(%[[A:.*]]: f16, %[[B:.*]]: i8, %[[C:.*]]: f32):
// CHECK:   %[[WF:.*]] = arith.sitofp %[[B]] : i8 to f32
// CHECK:   %[[AF:.*]] = arith.extf %[[A]] : f16 to f32
// CHECK:   %[[P:.*]] = arith.mulf %[[AF]], %[[WF]] : f32
// CHECK:   arith.addf %[[C]], %[[P]] : f32
// CHECK: linalg.generic {indexing_maps = [#[[ID]], #[[F]], #[[F]], #[[ID]]], iterator_types = ["parallel", "parallel"]} ins(%[[ACC]], %[[SA]], %[[BA]] : tensor<?x24xf32>, tensor<24xf32>, tensor<24xf16>) outs(%{{.*}} : tensor<?x24xf16>)
// CHECK:   arith.mulf
// CHECK:   arith.extf
// CHECK:   arith.addf
// CHECK:   arith.truncf %{{.*}} : f32 to f16
func.func @half_bias(%x: tensor<?x40xf16>, %w: tensor<24x40xi8>, %s: tensor<24xf32>, %b: tensor<24xf16>) -> tensor<?x24xf16> {
  %y = onebit.int8_linear %x, %w, %s bias %b : (tensor<?x40xf16>, tensor<24x40xi8>, tensor<24xf32>, tensor<24xf16>) -> tensor<?x24xf16>
  return %y : tensor<?x24xf16>
}
