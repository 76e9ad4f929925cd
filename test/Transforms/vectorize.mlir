// RUN: onebit-opt %s --split-input-file --pass-pipeline="builtin.module(func.func(onebit-vectorize))" | FileCheck %s
// RUN: onebit-opt %s --split-input-file --pass-pipeline="builtin.module(func.func(onebit-vectorize{max-width=16}))" | FileCheck %s --check-prefix=W16
// RUN: onebit-opt %s --split-input-file --pass-pipeline="builtin.module(func.func(onebit-vectorize{stats}))" -o /dev/null 2>&1 | FileCheck %s --check-prefix=STATS
// RUN: not onebit-opt %s --split-input-file --pass-pipeline="builtin.module(func.func(onebit-vectorize{min-width=6}))" -o /dev/null 2>&1 | FileCheck %s --check-prefix=BAD

// BAD: onebit-vectorize: min-width and max-width must be powers of two with min-width <= max-width

// A reduction along the innermost dimension (the sum of a softmax): tiles
// of 32 elements, one horizontal reduction per tile, the accumulator read
// and written once per tile; the row maximum is broadcast.
// CHECK-LABEL: func.func @inner_reduction
// CHECK: scf.for
// CHECK: scf.for
// CHECK: scf.for %{{.*}} = %c0 to %c256 step %c32
// CHECK: %[[X:.*]] = vector.load %{{.*}} : memref<32xf32, {{.*}}>, vector<32xf32>
// CHECK: %[[M:.*]] = vector.broadcast %{{.*}} : f32 to vector<32xf32>
// CHECK: %[[D:.*]] = arith.subf %[[X]], %[[M]] : vector<32xf32>
// CHECK: %[[E:.*]] = math.exp %[[D]] : vector<32xf32>
// CHECK: vector.reduction <add>, %[[E]], %{{.*}} : vector<32xf32> into f32
// CHECK-NOT: linalg.generic
// W16-LABEL: func.func @inner_reduction
// W16: step %c16
// W16: vector.reduction <add>, %{{.*}}, %{{.*}} : vector<16xf32> into f32
// STATS: onebit-vectorize: 1 ops vectorized; left to loops: 0 narrow, 0 ragged, 0 strided, 0 unsupported, 0 on tensors or dynamic; 0 strided memref.copy as linalg.copy
func.func @inner_reduction(%x: memref<8x64x256xf32>, %m: memref<8x64xf32>,
                           %s: memref<8x64xf32>) {
  linalg.generic {
      indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>,
                       affine_map<(d0, d1, d2) -> (d0, d1)>,
                       affine_map<(d0, d1, d2) -> (d0, d1)>],
      iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %m : memref<8x64x256xf32>, memref<8x64xf32>)
      outs(%s : memref<8x64xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %0 = arith.subf %a, %b : f32
    %1 = math.exp %0 : f32
    %2 = arith.addf %acc, %1 : f32
    linalg.yield %2 : f32
  }
  return
}

// -----

// An element-wise op with an operand broadcast along the outer dimensions
// (a norm's weight) and one along the innermost (a per-row scale).
// CHECK-LABEL: func.func @broadcasts
// CHECK: scf.for %{{.*}} = %c0 to %c512 step %c1
// CHECK: scf.for %{{.*}} = %c0 to %c128 step %c32
// CHECK-DAG: vector.load %{{.*}} : memref<32xf32, {{.*}}>, vector<32xf32>
// CHECK-DAG: vector.load %{{.*}} : memref<32xf32, {{.*}}>, vector<32xf32>
// CHECK-DAG: vector.broadcast %{{.*}} : f32 to vector<32xf32>
// CHECK: arith.mulf %{{.*}} : vector<32xf32>
// CHECK: arith.mulf %{{.*}} : vector<32xf32>
// CHECK: vector.store %{{.*}} : memref<32xf32, {{.*}}>, vector<32xf32>
// STATS: onebit-vectorize: 1 ops vectorized
func.func @broadcasts(%x: memref<512x128xf32>, %w: memref<128xf32>,
                      %r: memref<512x1xf32>, %y: memref<512x128xf32>) {
  linalg.generic {
      indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>,
                       affine_map<(d0, d1) -> (d1)>,
                       affine_map<(d0, d1) -> (d0, 0)>,
                       affine_map<(d0, d1) -> (d0, d1)>],
      iterator_types = ["parallel", "parallel"]}
      ins(%x, %w, %r : memref<512x128xf32>, memref<128xf32>, memref<512x1xf32>)
      outs(%y : memref<512x128xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32, %out: f32):
    %0 = arith.mulf %a, %c : f32
    %1 = arith.mulf %0, %b : f32
    linalg.yield %1 : f32
  }
  return
}

// -----

// A reduction along the outer dimension (the gradient of g: a column sum)
// is element-wise vector accumulation, no horizontal reduction.
// CHECK-LABEL: func.func @outer_reduction
// CHECK: scf.for %{{.*}} = %c0 to %c512 step %c1
// CHECK: scf.for %{{.*}} = %c0 to %c352 step %c32
// CHECK: arith.mulf %{{.*}} : vector<32xf32>
// CHECK: arith.addf %{{.*}} : vector<32xf32>
// CHECK-NOT: vector.reduction
// CHECK: return
// STATS: onebit-vectorize: 1 ops vectorized
func.func @outer_reduction(%x: memref<512x352xf32>, %d: memref<512x352xf32>,
                           %g: memref<352xf32>) {
  linalg.generic {
      indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>,
                       affine_map<(d0, d1) -> (d0, d1)>,
                       affine_map<(d0, d1) -> (d1)>],
      iterator_types = ["reduction", "parallel"]}
      ins(%x, %d : memref<512x352xf32>, memref<512x352xf32>)
      outs(%g : memref<352xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %0 = arith.mulf %a, %b : f32
    %1 = arith.addf %acc, %0 : f32
    linalg.yield %1 : f32
  }
  return
}

// -----

// The width is the largest power of two up to max-width dividing the
// innermost extent (48 -> 16); a head transpose that keeps the innermost
// dimension is vectorized too.
// CHECK-LABEL: func.func @width_and_transpose
// CHECK: arith.addf %{{.*}} : vector<16xf32>
// CHECK: vector.load %{{.*}} : memref<32xf32, {{.*}}>, vector<32xf32>
// CHECK: vector.store %{{.*}} : memref<32xf32, {{.*}}>, vector<32xf32>
// CHECK-NOT: linalg.
// STATS: onebit-vectorize: 2 ops vectorized
func.func @width_and_transpose(%a: memref<4x48xf32>, %b: memref<4x48xf32>,
                               %x: memref<2x8x4x32xf32>,
                               %y: memref<2x4x8x32xf32>) {
  linalg.generic {
      indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>,
                       affine_map<(d0, d1) -> (d0, d1)>],
      iterator_types = ["parallel", "parallel"]}
      ins(%a : memref<4x48xf32>) outs(%b : memref<4x48xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.addf %in, %in : f32
    linalg.yield %0 : f32
  }
  linalg.transpose ins(%x : memref<2x8x4x32xf32>)
      outs(%y : memref<2x4x8x32xf32>) permutation = [0, 2, 1, 3]
  return
}

// -----

// Left to the loop lowering: a transpose of the innermost dimension, an
// innermost extent below 8 and one that is not a multiple of 8, a gather
// (memref.load in the body).
// CHECK-LABEL: func.func @left_alone
// CHECK: linalg.transpose
// CHECK: linalg.generic
// CHECK: linalg.generic
// CHECK: linalg.generic
// CHECK-NOT: vector.
// CHECK: return
// STATS: onebit-vectorize: 0 ops vectorized; left to loops: 1 narrow, 1 ragged, 1 strided, 1 unsupported, 0 on tensors or dynamic; 0 strided memref.copy as linalg.copy
func.func @left_alone(%x: memref<64x32xf32>, %xt: memref<32x64xf32>,
                      %n: memref<16x4xf32>, %r: memref<16x12xf32>,
                      %ids: memref<16xindex>, %table: memref<100x64xf32>,
                      %e: memref<16x64xf32>) {
  linalg.transpose ins(%x : memref<64x32xf32>) outs(%xt : memref<32x64xf32>)
      permutation = [1, 0]
  linalg.generic {
      indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>],
      iterator_types = ["parallel", "parallel"]}
      outs(%n : memref<16x4xf32>) {
  ^bb0(%out: f32):
    %0 = arith.addf %out, %out : f32
    linalg.yield %0 : f32
  }
  linalg.generic {
      indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>],
      iterator_types = ["parallel", "parallel"]}
      outs(%r : memref<16x12xf32>) {
  ^bb0(%out: f32):
    %0 = arith.mulf %out, %out : f32
    linalg.yield %0 : f32
  }
  linalg.generic {
      indexing_maps = [affine_map<(d0, d1) -> (d0)>,
                       affine_map<(d0, d1) -> (d0, d1)>],
      iterator_types = ["parallel", "parallel"]}
      ins(%ids : memref<16xindex>) outs(%e : memref<16x64xf32>) {
  ^bb0(%id: index, %out: f32):
    %c = linalg.index 1 : index
    %0 = memref.load %table[%id, %c] : memref<100x64xf32>
    linalg.yield %0 : f32
  }
  return
}

// -----

// A copy into a strided view (one half of a RoPE rotation) becomes vector
// loads and stores; a contiguous copy stays a memref.copy (a memcpy).
// CHECK-LABEL: func.func @copies
// CHECK: scf.for
// CHECK: vector.load %{{.*}} : memref<16xf32, {{.*}}>, vector<16xf32>
// CHECK: vector.store %{{.*}} : memref<16xf32, {{.*}}>, vector<16xf32>
// CHECK: memref.copy %{{.*}}, %{{.*}} : memref<8x64xf32> to memref<8x64xf32>
// STATS: onebit-vectorize: 1 ops vectorized; left to loops: 0 narrow, 0 ragged, 0 strided, 0 unsupported, 0 on tensors or dynamic; 1 strided memref.copy as linalg.copy
func.func @copies(%h: memref<4x64x16xf32>, %full: memref<4x64x32xf32>,
                  %a: memref<8x64xf32>, %b: memref<8x64xf32>) {
  %v = memref.subview %full[0, 0, 16] [4, 64, 16] [1, 1, 1]
      : memref<4x64x32xf32> to memref<4x64x16xf32, strided<[2048, 32, 1], offset: 16>>
  memref.copy %h, %v : memref<4x64x16xf32> to memref<4x64x16xf32, strided<[2048, 32, 1], offset: 16>>
  memref.copy %a, %b : memref<8x64xf32> to memref<8x64xf32>
  return
}

// -----

// Tensors are left to bufferization.
// CHECK-LABEL: func.func @tensors
// CHECK: linalg.generic
// STATS: 0 ops vectorized; left to loops: 0 narrow, 0 ragged, 0 strided, 0 unsupported, 1 on tensors or dynamic
func.func @tensors(%x: tensor<8x64xf32>) -> tensor<8x64xf32> {
  %0 = linalg.generic {
      indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>],
      iterator_types = ["parallel", "parallel"]}
      outs(%x : tensor<8x64xf32>) {
  ^bb0(%out: f32):
    %1 = arith.addf %out, %out : f32
    linalg.yield %1 : f32
  } -> tensor<8x64xf32>
  return %0 : tensor<8x64xf32>
}

// -----

// Dynamic outer dimensions (the prompt length of a KV-cache @prefill) are
// tiled by 1; the static innermost one is vectorized as usual.
// CHECK-LABEL: func.func @dynamic_outer
// CHECK: %[[N:.*]] = memref.dim %{{.*}}, %c0 : memref<?x576xf32>
// CHECK: scf.for %{{.*}} = %c0 to %[[N]] step %c1
// CHECK: scf.for %{{.*}} = %c0 to %c576 step %c32
// CHECK: %[[X:.*]] = vector.load %{{.*}} : memref<32xf32, {{.*}}>, vector<32xf32>
// CHECK: %[[SQ:.*]] = arith.mulf %[[X]], %[[X]] : vector<32xf32>
// CHECK: vector.reduction <add>, %[[SQ]], %{{.*}} : vector<32xf32> into f32
// CHECK-NOT: linalg.generic
// STATS: onebit-vectorize: 1 ops vectorized; left to loops: 0 narrow, 0 ragged, 0 strided, 0 unsupported, 0 on tensors or dynamic
func.func @dynamic_outer(%x: memref<?x576xf32>, %s: memref<?xf32>) {
  linalg.generic {
      indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>],
      iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<?x576xf32>) outs(%s : memref<?xf32>) {
  ^bb0(%a: f32, %o: f32):
    %0 = arith.mulf %a, %a : f32
    %1 = arith.addf %o, %0 : f32
    linalg.yield %1 : f32
  }
  return
}

// -----

// A dynamic innermost extent (attention's keys, with the causal mask from
// linalg.index): tiles of 16, the tile loop peeled; the full tiles are
// vectorized (the mask a vector of indices), the last partial tile stays a
// linalg op for the loop lowering.
// CHECK-LABEL: func.func @dynamic_inner
// CHECK: %[[N:.*]] = memref.dim %{{.*}}, %c1 : memref<?x?xf32>
// CHECK: %[[FULL:.*]] = affine.apply #{{.*}}()[%[[N]]]
// CHECK: scf.for %[[J:.*]] = %c0 to %[[FULL]] step %c16
// CHECK: %[[X:.*]] = vector.load %{{.*}} : memref<16xf32, {{.*}}>, vector<16xf32>
// CHECK: %[[STEP:.*]] = vector.step : vector<16xindex>
// CHECK: %[[JV:.*]] = vector.broadcast %[[J]] : index to vector<16xindex>
// CHECK: %[[COL:.*]] = arith.addi %[[JV]], %[[STEP]] : vector<16xindex>
// CHECK: arith.cmpi ugt, %[[COL]], %{{.*}} : vector<16xindex>
// CHECK: math.exp %[[X]] : vector<16xf32>
// CHECK: vector.reduction <add>, %{{.*}}, %{{.*}} : vector<16xf32> into f32
// CHECK: scf.for %{{.*}} = %[[FULL]] to %[[N]] step %c16
// CHECK: linalg.generic
// CHECK-SAME: ins(%{{.*}} : memref<1x?xf32
// STATS: onebit-vectorize: 1 ops vectorized; left to loops: 0 narrow, 0 ragged, 0 strided, 0 unsupported, 1 on tensors or dynamic; 0 strided memref.copy as linalg.copy; 1 dynamic innermost peeled
func.func @dynamic_inner(%x: memref<?x?xf32>, %s: memref<?xf32>, %off: index) {
  linalg.generic {
      indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>],
      iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<?x?xf32>) outs(%s : memref<?xf32>) {
  ^bb0(%a: f32, %o: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %ip = arith.addi %i, %off : index
    %future = arith.cmpi ugt, %j, %ip : index
    %e = math.exp %a : f32
    %z = arith.constant 0.0 : f32
    %v = arith.select %future, %z, %e : f32
    %1 = arith.addf %o, %v : f32
    linalg.yield %1 : f32
  }
  return
}

// -----

// A boolean operand (an ONNX mask) is left to loops: in memory an i1 takes
// a byte, in a vector register a bit, so a vector load would read packed
// bits. Neither a static nor a dynamic innermost extent is vectorized.
// CHECK-LABEL: func.func @boolean_mask
// CHECK-NOT: vector.load
// CHECK: linalg.generic
// CHECK-NOT: vector.load
// CHECK: linalg.generic
// STATS: onebit-vectorize: 0 ops vectorized; left to loops: 0 narrow, 0 ragged, 1 strided, 0 unsupported, 1 on tensors or dynamic; 0 strided memref.copy as linalg.copy; 0 dynamic innermost peeled
func.func @boolean_mask(%m: memref<4x64xi1>, %x: memref<4x64xf32>, %y: memref<4x64xf32>,
                        %md: memref<4x?xi1>, %xd: memref<4x?xf32>, %yd: memref<4x?xf32>) {
  %ninf = arith.constant -3.0e+38 : f32
  linalg.generic {
      indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>],
      iterator_types = ["parallel", "parallel"]}
      ins(%m, %x : memref<4x64xi1>, memref<4x64xf32>) outs(%y : memref<4x64xf32>) {
  ^bb0(%keep: i1, %a: f32, %o: f32):
    %0 = arith.select %keep, %a, %ninf : f32
    linalg.yield %0 : f32
  }
  linalg.generic {
      indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>],
      iterator_types = ["parallel", "parallel"]}
      ins(%md, %xd : memref<4x?xi1>, memref<4x?xf32>) outs(%yd : memref<4x?xf32>) {
  ^bb0(%keep: i1, %a: f32, %o: f32):
    %0 = arith.select %keep, %a, %ninf : f32
    linalg.yield %0 : f32
  }
  return
}
