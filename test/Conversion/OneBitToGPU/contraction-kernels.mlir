// RUN: onebit-opt %s --split-input-file --onebit-gpu-contraction-kernels | FileCheck %s

// A matmul on buffers becomes one tiled launch: 64 x 64 tiles of C on a
// (ceil(N / 64), ceil(M / 64), 1) grid of 256 threads, two 16 x 65 f32
// workgroup tiles, K in steps of 16 between barriers, 4 x 4 FMAs per
// staged k, and C's initial value added in the epilogue.
// CHECK-LABEL: func.func @matmul
// CHECK-NOT:     linalg.matmul
// CHECK-DAG:     %[[C256:.*]] = arith.constant 256 : index
// CHECK:         gpu.launch blocks({{.*}}) in ({{.*}}) threads({{.*}}) in ({{[^=]*}}= %[[C256]], {{[^)]*}}) module(@onebit_contraction_0) function(@onebit_contraction_0) workgroup(%[[A:.*]] : memref<1040xf32, #gpu.address_space<workgroup>>, %[[B:.*]] : memref<1040xf32, #gpu.address_space<workgroup>>)
// CHECK:           scf.for {{.*}} iter_args
// CHECK:             gpu.barrier
// CHECK:             memref.load %arg0
// CHECK:             memref.store {{.*}}, %[[A]]
// CHECK:             memref.load %arg1
// CHECK:             memref.store {{.*}}, %[[B]]
// CHECK:             gpu.barrier
// CHECK:             scf.for
// CHECK-COUNT-16:      math.fma
// CHECK:           memref.load %arg2
// CHECK:           arith.addf
// CHECK:           memref.store {{.*}}, %arg2
// CHECK:           gpu.terminator
func.func @matmul(%a: memref<100x40xf32>, %b: memref<40x70xf32>, %c: memref<100x70xf32>) {
  linalg.matmul ins(%a, %b : memref<100x40xf32>, memref<40x70xf32>) outs(%c : memref<100x70xf32>)
  return
}

// -----

// A batch matmul with a dynamic batch: the batch is the grid's z and the
// kernel's block z index is its index; the f16 operands are widened.
// CHECK-LABEL: func.func @batched
// CHECK:         %[[Z:.*]] = memref.dim %arg0, %c0
// CHECK:         %[[ZZ:.*]] = arith.muli %{{.*}}, %[[Z]] : index
// CHECK:         gpu.launch blocks(%{{.*}}, %{{.*}}, %[[BZ:.*]]) in ({{.*}}, {{.*}}, {{.*}} = %[[ZZ]])
// CHECK:           arith.remui %[[BZ]]
// CHECK:           arith.extf {{.*}} : f16 to f32
// CHECK:           arith.truncf {{.*}} : f32 to f16
func.func @batched(%a: memref<?x32x16xf16>, %b: memref<?x16x48xf16>, %c: memref<?x32x48xf16>) {
  linalg.batch_matmul ins(%a, %b : memref<?x32x16xf16>, memref<?x16x48xf16>) outs(%c : memref<?x32x48xf16>)
  return
}

// -----

// Fewer rows than min-rows (a decode step's product) or fewer than 16
// columns, and ops that are not contractions, are left to the generic
// lowering.
// CHECK-LABEL: func.func @left_alone
// CHECK-NOT:     gpu.launch
// CHECK:         linalg.matmul ins(%arg0, %arg1 : memref<4x64xf32>, memref<64x64xf32>)
// CHECK:         linalg.matmul ins(%arg3, %arg4 : memref<64x64xf32>, memref<64x8xf32>)
// CHECK:         linalg.generic
func.func @left_alone(%a: memref<4x64xf32>, %b: memref<64x64xf32>, %c: memref<4x64xf32>,
                      %d: memref<64x64xf32>, %e: memref<64x8xf32>, %f: memref<64x8xf32>) {
  linalg.matmul ins(%a, %b : memref<4x64xf32>, memref<64x64xf32>) outs(%c : memref<4x64xf32>)
  linalg.matmul ins(%d, %e : memref<64x64xf32>, memref<64x8xf32>) outs(%f : memref<64x8xf32>)
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%d : memref<64x64xf32>) outs(%b : memref<64x64xf32>) {
  ^bb0(%x: f32, %y: f32):
    %s = arith.addf %x, %y : f32
    linalg.yield %s : f32
  }
  return
}
