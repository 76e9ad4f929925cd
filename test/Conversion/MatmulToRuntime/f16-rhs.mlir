// RUN: onebit-opt %s --convert-matmul-to-runtime --split-input-file | FileCheck %s
// RUN: onebit-opt %s --convert-matmul-to-runtime --canonicalize --split-input-file | FileCheck %s --check-prefix=DEAD

// Attention scores over an f16 KV cache (as the GGUF importer writes it with
// --kv-cache-type=f16): the right operand is an extf generic of the f16
// keys, so the call is onebit_matmul_f32_f16b on a view of the f16 tensor
// itself (read in place, widened in the kernel). The sizes come from the f16
// tensor, so the extf generic has no users left and canonicalization drops
// it: no f32 copy of the cache is made.
// CHECK-LABEL: func.func private @onebit_matmul_f32_f16b
// CHECK-SAME: (memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xf16, strided<[?, ?, ?, ?], offset: ?>>, memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>, f32)
// CHECK-SAME: attributes {llvm.emit_c_interface}
// CHECK-LABEL: func.func @scores
// CHECK-SAME: (%[[Q:.*]]: tensor<2x8xf32>, %[[K:.*]]: tensor<?x8xf16>)
// CHECK: %[[KB:.*]] = bufferization.to_buffer %[[K]] read_only : tensor<?x8xf16> to memref<?x8xf16, strided<[?, ?], offset: ?>>
// CHECK: %[[KV:.*]] = memref.reinterpret_cast %[[KB]]{{.*}} to memref<?x?x?x?xf16, strided<[?, ?, ?, ?], offset: ?>>
// CHECK: call @onebit_matmul_f32_f16b(%{{.*}}, %[[KV]], %{{.*}}, %{{.*}})
// CHECK-NOT: call @onebit_matmul_f32(
// DEAD-LABEL: func.func @scores
// DEAD-NOT: arith.extf
// DEAD: call @onebit_matmul_f32_f16b
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @scores(%q: tensor<2x8xf32>, %k16: tensor<?x8xf16>) -> tensor<2x?xf32> {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %n = tensor.dim %k16, %c0 : tensor<?x8xf16>
  %ke = tensor.empty(%n) : tensor<?x8xf32>
  %k = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%k16 : tensor<?x8xf16>) outs(%ke : tensor<?x8xf32>) {
  ^bb0(%in: f16, %out: f32):
    %w = arith.extf %in : f16 to f32
    linalg.yield %w : f32
  } -> tensor<?x8xf32>
  %se = tensor.empty(%n) : tensor<2x?xf32>
  %sf = linalg.fill ins(%zero : f32) outs(%se : tensor<2x?xf32>) -> tensor<2x?xf32>
  %s = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>],
                       iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%q, %k : tensor<2x8xf32>, tensor<?x8xf32>) outs(%sf : tensor<2x?xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  } -> tensor<2x?xf32>
  return %s : tensor<2x?xf32>
}

// -----

// Not an f16 read: an extf on the left operand, a body that does more than
// extf (a scale), or a transposing map keep the f32 call on the widened
// tensor.
// CHECK-LABEL: func.func @not_f16_reads
// CHECK-NOT: onebit_matmul_f32_f16b
// CHECK-COUNT-3: call @onebit_matmul_f32(
// CHECK-NOT: onebit_matmul_f32_f16b
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#tr = affine_map<(d0, d1) -> (d1, d0)>
#ma = affine_map<(d0, d1, d2) -> (d0, d2)>
#mb = affine_map<(d0, d1, d2) -> (d2, d1)>
#mc = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @not_f16_reads(%a16: tensor<4x8xf16>, %a: tensor<4x8xf32>, %b16: tensor<8x8xf16>) -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) {
  %zero = arith.constant 0.0 : f32
  %two = arith.constant 2.0 : f32
  %e48 = tensor.empty() : tensor<4x8xf32>
  %e88 = tensor.empty() : tensor<8x8xf32>
  %c = linalg.fill ins(%zero : f32) outs(%e48 : tensor<4x8xf32>) -> tensor<4x8xf32>
  %aw = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%a16 : tensor<4x8xf16>) outs(%e48 : tensor<4x8xf32>) {
  ^bb0(%in: f16, %out: f32):
    %w = arith.extf %in : f16 to f32
    linalg.yield %w : f32
  } -> tensor<4x8xf32>
  %bscaled = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%b16 : tensor<8x8xf16>) outs(%e88 : tensor<8x8xf32>) {
  ^bb0(%in: f16, %out: f32):
    %w = arith.extf %in : f16 to f32
    %s = arith.mulf %w, %two : f32
    linalg.yield %s : f32
  } -> tensor<8x8xf32>
  %btr = linalg.generic {indexing_maps = [#tr, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%b16 : tensor<8x8xf16>) outs(%e88 : tensor<8x8xf32>) {
  ^bb0(%in: f16, %out: f32):
    %w = arith.extf %in : f16 to f32
    linalg.yield %w : f32
  } -> tensor<8x8xf32>
  %b = linalg.fill ins(%two : f32) outs(%e88 : tensor<8x8xf32>) -> tensor<8x8xf32>
  %y1 = linalg.generic {indexing_maps = [#ma, #mb, #mc], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%aw, %b : tensor<4x8xf32>, tensor<8x8xf32>) outs(%c : tensor<4x8xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  } -> tensor<4x8xf32>
  %y2 = linalg.generic {indexing_maps = [#ma, #mb, #mc], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %bscaled : tensor<4x8xf32>, tensor<8x8xf32>) outs(%c : tensor<4x8xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  } -> tensor<4x8xf32>
  %y3 = linalg.generic {indexing_maps = [#ma, #mb, #mc], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %btr : tensor<4x8xf32>, tensor<8x8xf32>) outs(%c : tensor<4x8xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %p = arith.mulf %x, %y : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  } -> tensor<4x8xf32>
  return %y1, %y2, %y3 : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>
}
