// RUN: onebit-opt %s --convert-matmul-to-runtime --split-input-file | FileCheck %s
// RUN: onebit-opt %s --convert-matmul-to-runtime="sign-kernel=false" --split-input-file | FileCheck %s --check-prefix=DENSE

// The train step's forward product y = xg . sign(W)^T (as
// onebit-decompose-train-form writes it): the call takes the latent W itself,
// viewed as B = W^T [K, N] (strides swapped), and the sign generic is left
// for dead-code elimination.
// CHECK-LABEL: func.func private @onebit_sign_matmul_f32
// CHECK-SAME: (memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, f32)
// CHECK-SAME: attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @forward
// CHECK-SAME: (%[[X:.*]]: tensor<6x5xf32>, %[[W:.*]]: tensor<4x5xf32>)
// CHECK: %[[XB:.*]] = bufferization.to_buffer %[[X]] read_only
// CHECK: %[[XV:.*]] = memref.reinterpret_cast %[[XB]]
// CHECK: %[[WB:.*]] = bufferization.to_buffer %[[W]] read_only : tensor<4x5xf32> to memref<4x5xf32, strided<[?, ?], offset: ?>>
// CHECK: %[[WOFF:offset[_0-9]*]], %{{.*}}:2, %[[WS:strides[_0-9]*]]:2 = memref.extract_strided_metadata %[[WB]]
// CHECK: %[[WV:.*]] = memref.reinterpret_cast %[[WB]] to offset: [%[[WOFF]]], sizes: [%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}], strides: [%{{.*}}, %{{.*}}, %[[WS]]#1, %[[WS]]#0]
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<6x4xf32>
// CHECK: %[[CV:.*]] = memref.reinterpret_cast %[[OUT]]
// CHECK: call @onebit_sign_matmul_f32(%[[XV]], %[[WV]], %[[CV]], %{{.*}})
// CHECK-NOT: call @onebit_matmul_f32
// DENSE-LABEL: func.func @forward
// DENSE-NOT: onebit_sign_matmul_f32
// DENSE: call @onebit_matmul_f32
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @forward(%x: tensor<6x5xf32>, %w: tensor<4x5xf32>) -> tensor<6x4xf32> {
  %zero = arith.constant 0.0 : f32
  %m1 = arith.constant -1.0 : f32
  %p1 = arith.constant 1.0 : f32
  %e = tensor.empty() : tensor<4x5xf32>
  %s = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%w : tensor<4x5xf32>) outs(%e : tensor<4x5xf32>) {
  ^bb0(%in: f32, %out: f32):
    %lt = arith.cmpf olt, %in, %zero : f32
    %v = arith.select %lt, %m1, %p1 : f32
    linalg.yield %v : f32
  } -> tensor<4x5xf32>
  %ye = tensor.empty() : tensor<6x4xf32>
  %yf = linalg.fill ins(%zero : f32) outs(%ye : tensor<6x4xf32>) -> tensor<6x4xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>],
                       iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %s : tensor<6x5xf32>, tensor<4x5xf32>) outs(%yf : tensor<6x4xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  } -> tensor<6x4xf32>
  return %y : tensor<6x4xf32>
}

// -----

// The input gradient dxg = dy . sign(W) with the sign on the left (as the
// reverse mode writes it): C^T = dy^T sign(W)^T, so A is dy viewed [n, k],
// B the latent viewed [k, m] and C the output viewed [n, m]; each view swaps
// the strides it would have had.
// CHECK-LABEL: func.func @input_gradient
// CHECK-SAME: (%[[W:.*]]: tensor<4x5xf32>, %[[DY:.*]]: tensor<6x4xf32>)
// CHECK: %[[WB:.*]] = bufferization.to_buffer %[[W]] read_only
// CHECK: %[[WS:strides[_0-9]*]]:2 = memref.extract_strided_metadata %[[WB]]
// CHECK: %[[WV:.*]] = memref.reinterpret_cast %[[WB]] to offset: [%{{.*}}], sizes: [%{{.*}}, %{{.*}}, %[[C4:.*]], %[[C5:.*]]], strides: [%{{.*}}, %{{.*}}, %[[WS]]#0, %[[WS]]#1]
// CHECK: %[[DB:.*]] = bufferization.to_buffer %[[DY]] read_only
// CHECK: %[[DS:strides[_0-9]*]]:2 = memref.extract_strided_metadata %[[DB]]
// CHECK: %[[DV:.*]] = memref.reinterpret_cast %[[DB]] to offset: [%{{.*}}], sizes: [%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}], strides: [%{{.*}}, %{{.*}}, %[[DS]]#0, %[[DS]]#1]
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<6x5xf32>
// CHECK: %[[OS:strides[_0-9]*]]:2 = memref.extract_strided_metadata %[[OUT]]
// CHECK: %[[CV:.*]] = memref.reinterpret_cast %[[OUT]] to offset: [%{{.*}}], sizes: [%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}], strides: [%{{.*}}, %{{.*}}, %[[OS]]#0, %[[OS]]#1]
// CHECK: call @onebit_sign_matmul_f32(%[[DV]], %[[WV]], %[[CV]], %{{.*}})
#id2 = affine_map<(d0, d1) -> (d0, d1)>
func.func @input_gradient(%w: tensor<4x5xf32>, %dy: tensor<6x4xf32>) -> tensor<6x5xf32> {
  %zero = arith.constant 0.0 : f32
  %m1 = arith.constant -1.0 : f32
  %p1 = arith.constant 1.0 : f32
  %e = tensor.empty() : tensor<4x5xf32>
  %s = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%w : tensor<4x5xf32>) outs(%e : tensor<4x5xf32>) {
  ^bb0(%in: f32, %out: f32):
    %lt = arith.cmpf olt, %in, %zero : f32
    %v = arith.select %lt, %m1, %p1 : f32
    linalg.yield %v : f32
  } -> tensor<4x5xf32>
  %ge = tensor.empty() : tensor<6x5xf32>
  %gf = linalg.fill ins(%zero : f32) outs(%ge : tensor<6x5xf32>) -> tensor<6x5xf32>
  // loops (t, r, c): S[r, c], dy[t, r] -> dxg[t, c]
  %g = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>, affine_map<(d0, d1, d2) -> (d0, d2)>],
                       iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%s, %dy : tensor<4x5xf32>, tensor<6x4xf32>) outs(%gf : tensor<6x5xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  } -> tensor<6x5xf32>
  return %g : tensor<6x5xf32>
}

// -----

// Not a sign: >= instead of <, or other values than -1 / +1 (a clamp, a
// step function) keep the dense call on the generic's result.
// CHECK-LABEL: func.func @not_signs
// CHECK-NOT: onebit_sign_matmul_f32
// CHECK: call @onebit_matmul_f32
// CHECK: call @onebit_matmul_f32
// CHECK-NOT: onebit_sign_matmul_f32
#id3 = affine_map<(d0, d1) -> (d0, d1)>
func.func @not_signs(%x: tensor<6x5xf32>, %w: tensor<5x4xf32>) -> (tensor<6x4xf32>, tensor<6x4xf32>) {
  %zero = arith.constant 0.0 : f32
  %m1 = arith.constant -1.0 : f32
  %p1 = arith.constant 1.0 : f32
  %e = tensor.empty() : tensor<5x4xf32>
  %ge = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel"]}
      ins(%w : tensor<5x4xf32>) outs(%e : tensor<5x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %c = arith.cmpf oge, %in, %zero : f32
    %v = arith.select %c, %m1, %p1 : f32
    linalg.yield %v : f32
  } -> tensor<5x4xf32>
  %step = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel"]}
      ins(%w : tensor<5x4xf32>) outs(%e : tensor<5x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %c = arith.cmpf olt, %in, %zero : f32
    %v = arith.select %c, %zero, %p1 : f32
    linalg.yield %v : f32
  } -> tensor<5x4xf32>
  %ye = tensor.empty() : tensor<6x4xf32>
  %yf = linalg.fill ins(%zero : f32) outs(%ye : tensor<6x4xf32>) -> tensor<6x4xf32>
  %a = linalg.matmul ins(%x, %ge : tensor<6x5xf32>, tensor<5x4xf32>) outs(%yf : tensor<6x4xf32>) -> tensor<6x4xf32>
  %b = linalg.matmul ins(%x, %step : tensor<6x5xf32>, tensor<5x4xf32>) outs(%yf : tensor<6x4xf32>) -> tensor<6x4xf32>
  return %a, %b : tensor<6x4xf32>, tensor<6x4xf32>
}
