// convert-onebit-to-gpu turns binary layers into calls of kernel stubs on
// memrefs; onebit-gpu-binary-linear-kernels expands them into the sign-flip
// GEMV/GEMM kernel (and the post-norm kernel).
// RUN: onebit-opt %s --convert-onebit-to-gpu | FileCheck %s --check-prefix=STUB
// RUN: onebit-opt %s --convert-onebit-to-gpu --onebit-gpu-binary-linear-kernels | FileCheck %s
// RUN: onebit-opt %s --convert-onebit-to-gpu --onebit-gpu-binary-linear-kernels="warps=8 m-tile=2 tile-words=32" | FileCheck %s --check-prefix=OPTS

// STUB-DAG: func.func private @__onebit_gpu_binary_linear_0_layer(memref<6x128xf32>, memref<64x4xi32>, memref<128xf32>, memref<64xf32>, memref<64xf32>, memref<6x64xf32>)
// STUB-DAG: func.func private @__onebit_gpu_binary_linear_1(memref<1x100xf16>, memref<48x4xi32>, memref<100xf16>, memref<48xf32>, memref<1x48xf16>)
// STUB-LABEL: func.func @post_norm
// STUB: %[[OUT:.*]] = memref.alloc() : memref<2x3x64xf32>
// STUB: call @__onebit_gpu_binary_linear_0_layer({{.*}}) {onebit.gpu_binary_linear = {bias = true, k = 128 : i64, n = 64 : i64, name = "binary_linear_0_layer", norm_eps = 1.000000e-05 : f64}}
// STUB: bufferization.to_tensor %[[OUT]] restrict writable
// STUB-NOT: onebit.binary_linear

// CHECK-NOT: func.func private @__onebit_gpu
// CHECK-LABEL: func.func @post_norm
// The GEMV/GEMM kernel: 16 blocks of 4 warps (one output row each), 2
// blocks of 4 activation rows; x*g staged in workgroup memory.
// CHECK: gpu.launch blocks({{.*}}) in (%{{.*}} = %c16{{.*}}, %{{.*}} = %{{.*}}, %{{.*}} = %c1{{.*}}) threads({{.*}}) in (%{{.*}} = %c128{{.*}}, {{.*}}) module(@binary_linear_0_layer_gemv) function(@binary_linear_0_layer_gemv) workgroup(%[[SHM:.*]] : memref<4224xf32, #gpu.address_space<workgroup>>)
// CHECK: scf.for {{.*}} iter_args
// CHECK: gpu.barrier
// Staging: v = x * g, stored transposed per word (K = 128: one 32-word tile, pitch 33).
// CHECK: scf.for
// CHECK: arith.mulf
// CHECK: memref.store %{{.*}}, %[[SHM]]
// CHECK: gpu.barrier
// The sign-flip loop: one sign word per lane, each bit moved to bit 31 and
// xor-ed into the f32 pattern of the staged value; no multiplication.
// CHECK: %[[WORD:.*]] = scf.if %{{.*}} -> (i32)
// CHECK: memref.load %{{.*}} : memref<64x4xi32>
// CHECK-NOT: arith.mulf
// CHECK: %[[SHL:.*]] = arith.shli %[[WORD]], %c31_i32
// CHECK-NEXT: %[[SBIT:.*]] = arith.andi %[[SHL]], %c-2147483648_i32
// CHECK-NOT: arith.mulf
// CHECK: %[[V:.*]] = memref.load %[[SHM]]
// CHECK-NEXT: %[[I:.*]] = arith.bitcast %[[V]] : f32 to i32
// CHECK-NEXT: %[[X:.*]] = arith.xori %[[I]], %[[SBIT]] : i32
// CHECK-NEXT: %[[F:.*]] = arith.bitcast %[[X]] : i32 to f32
// CHECK-NEXT: arith.addf %{{.*}}, %[[F]] : f32
// CHECK-NOT: arith.mulf
// CHECK: scf.yield
// CHECK-NOT: arith.mulf
// CHECK: gpu.shuffle  xor %{{.*}}, %c16_i32, %c32_i32 : f32
// CHECK: gpu.shuffle  xor
// CHECK: gpu.shuffle  xor
// CHECK: gpu.shuffle  xor
// CHECK: gpu.shuffle  xor %{{.*}}, %c1_i32, %c32_i32{{.*}} : f32
// Epilogue: h[n] (the bias goes after the norm).
// CHECK: memref.load %{{.*}} : memref<64xf32>
// CHECK: arith.mulf
// CHECK: gpu.terminator
// The post-norm kernel: one block of 256 threads per row.
// CHECK: gpu.launch {{.*}} module(@binary_linear_0_layer_norm) function(@binary_linear_0_layer_norm) workgroup(%{{.*}} : memref<8xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<8xf32, #gpu.address_space<workgroup>>)
// CHECK: math.rsqrt
// CHECK: gpu.terminator
// OPTS: gpu.launch {{.*}} threads({{.*}}) in (%{{.*}} = %c256{{.*}}, {{.*}}) module(@binary_linear_0_layer_gemv) {{.*}} workgroup(%{{.*}} : memref<2112xf32, #gpu.address_space<workgroup>>)
func.func @post_norm(%x: tensor<2x3x128xf32>, %s: tensor<64x4xi32>, %g: tensor<128xf32>,
                     %h: tensor<64xf32>, %b: tensor<64xf32>) -> tensor<2x3x64xf32> {
  %y = onebit.binary_linear %x, %s, %g, %h bias %b
         layout <word_bits = 32, bit_order = lsb_first, negative = 1>
         norm_eps = 1.0e-05 {onebit.name = "layer"}
         : (tensor<2x3x128xf32>, tensor<64x4xi32>, tensor<128xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<2x3x64xf32>
  return %y : tensor<2x3x64xf32>
}

// f16 activations, a K that is not a multiple of 32, GEMV (M = 1): one
// activation row per block, loads widened and the result narrowed.
// CHECK-LABEL: func.func @gemv_f16
// CHECK: gpu.launch {{.*}} in (%{{.*}} = %c12{{.*}}, {{.*}}) module(@binary_linear_1_gemv) {{.*}} workgroup(%{{.*}} : memref<1056xf32, #gpu.address_space<workgroup>>)
// CHECK: arith.extf
// CHECK: arith.truncf
// CHECK-NOT: gpu.launch
// CHECK: return
func.func @gemv_f16(%x: tensor<100xf16>, %s: tensor<48x4xi32>, %g: tensor<100xf16>,
                    %h: tensor<48xf32>) -> tensor<48xf16> {
  %y = onebit.binary_linear %x, %s, %g, %h
         layout <word_bits = 32, bit_order = lsb_first, negative = 1>
         : (tensor<100xf16>, tensor<48x4xi32>, tensor<100xf16>, tensor<48xf32>) -> tensor<48xf16>
  return %y : tensor<48xf16>
}
