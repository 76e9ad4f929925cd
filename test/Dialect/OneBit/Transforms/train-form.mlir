// RUN: onebit-opt %s --split-input-file --onebit-quantize="keep-head=false" --onebit-to-train-form | FileCheck %s --check-prefix=TRAIN
// RUN: onebit-opt %s --split-input-file --onebit-quantize="keep-head=false" --onebit-to-train-form="latent-scale=0.5" | FileCheck %s --check-prefix=SCALE
// RUN: onebit-opt %s --split-input-file --onebit-quantize="keep-head=false" --onebit-to-train-form --onebit-pack-trained | FileCheck %s --check-prefix=PACK
// RUN: onebit-opt %s --split-input-file --onebit-quantize="keep-head=false" --onebit-to-train-form --onebit-decompose-train-form | FileCheck %s --check-prefix=DECOMP

// The quantized layer (see quantize.mlir: signs of W^T rows 0x22, 0x55,
// 0x88) becomes the training form with the latent weight sign(W) * 0.01,
// named after the layer; g, h and the post-norm are kept.
// TRAIN-LABEL: func.func @layer
// TRAIN-SAME: (%[[X:.*]]: tensor<4x8xf32>)
// TRAIN-DAG: %[[W:.*]] = arith.constant dense_resource<layers.0.q_proj.weight.latent> : tensor<3x8xf32>
// TRAIN-DAG: %[[G:.*]] = arith.constant dense_resource<layers.0.q_proj.weight.g> : tensor<8xf32>
// TRAIN-DAG: %[[H:.*]] = arith.constant dense_resource<layers.0.q_proj.weight.h> : tensor<3xf32>
// TRAIN: %[[Y:.*]] = onebit.binary_linear_train %[[X]], %[[W]], %[[G]], %[[H]] norm_eps = 1.000000e-05 {onebit.name = "layers.0.q_proj.weight"}
// TRAIN-NOT: onebit.binary_linear
// TRAIN: return %[[Y]]
// Row 0 = [+,-,+,+,+,-,+,+] * 0.01: 0x3C23D70A = 0.01, 0xBC23D70A = -0.01.
// TRAIN: layers.0.q_proj.weight.latent: "0x080000000AD7233C0AD723BC0AD7233C0AD7233C0AD7233C0AD723BC0AD7233C0AD7233C
// SCALE: layers.0.q_proj.weight.latent: "0x080000000000003F000000BF0000003F0000003F0000003F000000BF0000003F0000003F

// Packing the latent weights again gives back exactly the quantized signs.
// PACK-LABEL: func.func @layer
// PACK: onebit.binary_linear %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} layout <word_bits = 32, bit_order = lsb_first, negative = 1> norm_eps = 1.000000e-05
// PACK-NOT: binary_linear_train
// PACK: "0x08000000220000005500000088000000"

// The decomposition is plain linalg: x*g, sign(W) with 0 -> +1, the
// contraction, *h, then the LayerNorm (mean, biased variance, rsqrt).
// DECOMP-LABEL: func.func @layer
// DECOMP-NOT: onebit.
// DECOMP: linalg.generic
// DECOMP: arith.mulf
// DECOMP: arith.cmpf olt
// DECOMP: arith.select
// DECOMP: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]
// DECOMP: math.rsqrt
// DECOMP: return
func.func @layer(%x: tensor<4x8xf32>) -> tensor<4x3xf32> {
  %w = arith.constant dense<[[1.0, -2.0, 0.5], [-1.0, 2.0, 1.5], [0.5, -0.25, 1.0], [2.0, 1.0, -1.0], [1.0, -2.0, 0.5], [-1.0, 2.0, 1.5], [0.5, -0.25, 1.0], [2.0, 1.0, -1.0]]> : tensor<8x3xf32> loc("layers.0.q_proj.weight")
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x3xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<4x3xf32>) -> tensor<4x3xf32>
  %y = linalg.matmul ins(%x, %w : tensor<4x8xf32>, tensor<8x3xf32>) outs(%f : tensor<4x3xf32>) -> tensor<4x3xf32>
  return %y : tensor<4x3xf32>
}
