// Layer selection: keep-head, exclude, min-elements; the statistics report.
// RUN: onebit-opt %s --onebit-quantize | FileCheck %s --check-prefix=HEAD
// RUN: onebit-opt %s --onebit-quantize="keep-head=false" | FileCheck %s --check-prefix=ALL
// RUN: onebit-opt %s --onebit-quantize="keep-head=false exclude=*.v_proj.*,up" | FileCheck %s --check-prefix=EXCL
// RUN: onebit-opt %s --onebit-quantize="keep-head=false min-elements=100" | FileCheck %s --check-prefix=MIN
// RUN: onebit-opt %s --onebit-quantize="stats=true" -o /dev/null 2>&1 | FileCheck %s --check-prefix=STATS
// RUN: onebit-opt %s --onebit-quantize="remarks=true init=svd" -o /dev/null 2>&1 | FileCheck %s --check-prefix=REMARK

// A tiny decoder-like chain: v_proj, up_proj (a big one), down_proj, then a
// head whose output is returned.
func.func @model(%x: tensor<2x8xf32>) -> tensor<2x6xf32> {
  %z = arith.constant 0.0 : f32
  %v = arith.constant dense<0.25> : tensor<8x8xf32> loc("layers.0.v_proj.weight")
  %up = arith.constant dense<-0.5> : tensor<8x16xf32> loc("layers.0.mlp.up_proj.weight")
  %down = arith.constant dense<0.75> : tensor<16x8xf32> loc("layers.0.mlp.down_proj.weight")
  %head = arith.constant dense<1.0> : tensor<8x6xf32> loc("output")
  %e8 = tensor.empty() : tensor<2x8xf32>
  %f8 = linalg.fill ins(%z : f32) outs(%e8 : tensor<2x8xf32>) -> tensor<2x8xf32>
  %e16 = tensor.empty() : tensor<2x16xf32>
  %f16 = linalg.fill ins(%z : f32) outs(%e16 : tensor<2x16xf32>) -> tensor<2x16xf32>
  %e6 = tensor.empty() : tensor<2x6xf32>
  %f6 = linalg.fill ins(%z : f32) outs(%e6 : tensor<2x6xf32>) -> tensor<2x6xf32>
  %a = linalg.matmul ins(%x, %v : tensor<2x8xf32>, tensor<8x8xf32>) outs(%f8 : tensor<2x8xf32>) -> tensor<2x8xf32>
  %b = linalg.matmul ins(%a, %up : tensor<2x8xf32>, tensor<8x16xf32>) outs(%f16 : tensor<2x16xf32>) -> tensor<2x16xf32>
  %c = linalg.matmul ins(%b, %down : tensor<2x16xf32>, tensor<16x8xf32>) outs(%f8 : tensor<2x8xf32>) -> tensor<2x8xf32>
  %r = arith.addf %c, %x : tensor<2x8xf32>
  %d = linalg.matmul ins(%r, %head : tensor<2x8xf32>, tensor<8x6xf32>) outs(%f6 : tensor<2x6xf32>) -> tensor<2x6xf32>
  return %d : tensor<2x6xf32>
}

// The head (the last layer on the way to the result) stays FP by default.
// HEAD-COUNT-3: onebit.binary_linear
// HEAD: linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<2x8xf32>, tensor<8x6xf32>)
// HEAD-NOT: onebit.binary_linear

// ALL-NOT: linalg.matmul
// ALL-COUNT-4: onebit.binary_linear
// ALL-NOT: linalg.matmul

// Globs match whole names; a plain word matches as a substring.
// EXCL: linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<2x8xf32>, tensor<8x8xf32>)
// EXCL: linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<2x8xf32>, tensor<8x16xf32>)
// EXCL: onebit.binary_linear {{.*}}onebit.name = "layers.0.mlp.down_proj.weight"
// EXCL: onebit.binary_linear {{.*}}onebit.name = "output"

// Only the 8x16 and 16x8 layers have >= 100 elements.
// MIN: linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<2x8xf32>, tensor<8x8xf32>)
// MIN: onebit.binary_linear {{.*}}"layers.0.mlp.up_proj.weight"
// MIN: onebit.binary_linear {{.*}}"layers.0.mlp.down_proj.weight"
// MIN: linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<2x8xf32>, tensor<8x6xf32>)

// STATS: onebit-quantize: layer 'layers.0.v_proj.weight' 8x8 init=nmf iterations={{[0-9]+}} rel_error=0.000000 bits_per_weight=9.0000
// STATS: onebit-quantize: layer 'layers.0.mlp.up_proj.weight' 16x8 init=nmf
// STATS: onebit-quantize: layer 'layers.0.mlp.down_proj.weight' 8x16 init=nmf
// STATS: onebit-quantize: kept 'output' 6x8 in full precision (head)
// STATS: onebit-quantize: 3 of 4 linear layers quantized; linear layers {{[0-9.]+}} bits/weight; model {{[0-9.]+}} bits/weight ({{[0-9]+}} -> {{[0-9]+}} bytes of constants)

// REMARK-COUNT-3: remark: quantized '{{.*}}' ({{[0-9]+}}x{{[0-9]+}}): init=svd iterations={{[0-9]+}} rel_error=0.000000
