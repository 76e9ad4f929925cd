// Every kernel of the GPU pipeline assembles with ptxas for sm_80 (A100)
// and sm_90 (H100, H200) without register spills; the registers per kernel
// are printed (docs/gpu.md lists them). Inputs: the quantized example block, and LLaMA-sized binary layers
// (GEMV M = 1, GEMM with a dynamic M, f16 with post-norm and bias, static
// M = 16 and M = 8). Layers with M >= 9 are the tensor-core kernel (`_mma`:
// 64 mma.sync.aligned.m16n8k16 per 128-feature tile, 32 with one m16 tile
// per warp for M <= 16), those with fewer the sign-flip kernel (`_gemv`),
// and a dynamic M has both, chosen at run time. The sign-flip kernels with
// m-tile 1 (and 2) and K a multiple of 128 load their signs 128 bits at a
// time (ld.global.v4, 128-word tiles: 16,512 B of workgroup memory); a
// layer with few blocks along N (`smalln`, 1 x 256 x 8192: 64 blocks)
// splits K over grid z and adds the partial sums in `_splitk`.
// REQUIRES: ptxas
// RUN: rm -rf %t && mkdir -p %t
// RUN: onebit-opt %onebit_src_root/examples/tiny-decoder-block.mlir --onebit-quantize --onebit-gpu-pipeline="chip=sm_80 features=+ptx80 format=isa" -o %t/tiny.mlir
// RUN: %python %S/Inputs/gpu_ptx.py ptxas %t/tiny.mlir %ptxas %t/tiny | FileCheck %s --check-prefix=TINY
// RUN: onebit-opt %s --onebit-gpu-pipeline="chip=sm_80 features=+ptx80 format=isa" -o %t/big.mlir
// RUN: %python %S/Inputs/gpu_ptx.py ptxas %t/big.mlir %ptxas %t/big | FileCheck %s --check-prefix=BIG
// The same kernels for sm_90 (PTX 8.0, which every driver that knows sm_90
// JIT-compiles): ptxas assembles them for sm_90, no spills.
// RUN: onebit-opt %onebit_src_root/examples/tiny-decoder-block.mlir --onebit-quantize --onebit-gpu-pipeline="chip=sm_90 features=+ptx80 format=isa" -o %t/tiny90.mlir
// RUN: %python %S/Inputs/gpu_ptx.py ptxas %t/tiny90.mlir %ptxas %t/tiny90 | FileCheck %s --check-prefix=TINY
// RUN: onebit-opt %s --onebit-gpu-pipeline="chip=sm_90 features=+ptx80 format=isa" -o %t/big90.mlir
// RUN: %python %S/Inputs/gpu_ptx.py ptxas %t/big90.mlir %ptxas %t/big90 | FileCheck %s --check-prefix=BIG
// RUN: cat %t/big90/binary_linear_0_q_proj_gemv.ptx | FileCheck %s --check-prefix=SM90
// RUN: cat %t/big90/binary_linear_0_q_proj_gemv.ptx | FileCheck %s --check-prefix=V4
// RUN: cat %t/big/binary_linear_0_q_proj_gemv.ptx | FileCheck %s --check-prefix=V4
// RUN: cat %t/big/binary_linear_5_smalln_gemv.ptx | FileCheck %s --check-prefix=V4
// RUN: cat %t/big/binary_linear_4_decode8_gemv.ptx | FileCheck %s --check-prefix=B32
// V4: ld.global.v4.b32
// B32-NOT: ld.global.v4
// B32: ld.global.b32
// RUN: cat %t/big90/binary_linear_1_down_proj_mma.ptx | FileCheck %s --check-prefixes=SM90,MMA
// SM90: .version 8.0
// SM90: .target sm_90
// Without tensor cores (tensor-cores=false, or a chip before sm_80) every
// layer is the sign-flip kernel, and no PTX has mma.sync.
// RUN: onebit-opt %s --onebit-gpu-pipeline="chip=sm_75 features=+ptx80 format=isa" -o %t/big75.mlir
// RUN: %python %S/Inputs/gpu_ptx.py dump %t/big75.mlir | FileCheck %s --check-prefix=NOMMA
// RUN: onebit-opt %s --onebit-gpu-pipeline="chip=sm_80 features=+ptx80 format=isa tensor-cores=false" -o %t/big80nomma.mlir
// RUN: %python %S/Inputs/gpu_ptx.py dump %t/big80nomma.mlir | FileCheck %s --check-prefix=NOMMA
// NOMMA: gpu.binary @binary_linear_1_down_proj_gemv
// NOMMA-NOT: mma.sync
// The mma kernel's inner loop: A fragments from shared memory, B fragments
// from sign bits (shifts, ands, ors into 0x3C00 / 0xBC00 halves: 0x3C003C00
// is two f16 +1.0), no multiplication of weights.
// MMA: 1006648320
// MMA: ld.shared.b32
// MMA: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32

// TINY: binary_linear_0_model_layers_0_mlp_gate_proj_weight_gemv: {{[0-9]+}} registers, 0 bytes stack, 0 bytes spill stores, 0 bytes spill loads
// TINY: binary_linear_2_model_layers_0_mlp_down_proj_weight_norm: {{[0-9]+}} registers, 0 bytes stack, 0 bytes spill stores, 0 bytes spill loads
// TINY: kernels: 10

// BIG-DAG: binary_linear_0_q_proj_gemv: {{[0-9]+}} registers, 0 bytes stack, 0 bytes spill stores, 0 bytes spill loads, 16512 bytes smem{{$}}
// BIG-DAG: binary_linear_5_smalln_gemv: {{[0-9]+}} registers, 0 bytes stack, 0 bytes spill stores, 0 bytes spill loads, 16512 bytes smem{{$}}
// BIG-DAG: binary_linear_5_smalln_splitk: {{[0-9]+}} registers, 0 bytes stack, 0 bytes spill stores, 0 bytes spill loads, 0 bytes smem{{$}}
// BIG-DAG: binary_linear_1_down_proj_mma: {{[0-9]+}} registers, 0 bytes stack, 0 bytes spill stores, 0 bytes spill loads, 8704 bytes smem, 64 mma.sync.aligned.m16n8k16
// BIG-DAG: binary_linear_2_up_proj_f16_mma: {{[0-9]+}} registers, 0 bytes stack, 0 bytes spill stores, 0 bytes spill loads, 8704 bytes smem, 64 mma.sync.aligned.m16n8k16
// BIG-DAG: binary_linear_1_down_proj_gemv: {{[0-9]+}} registers, 0 bytes stack, 0 bytes spill stores, 0 bytes spill loads, 33280 bytes smem{{$}}
// BIG-DAG: binary_linear_2_up_proj_f16_gemv: {{[0-9]+}} registers, 0 bytes stack, 0 bytes spill stores, 0 bytes spill loads, 33280 bytes smem{{$}}
// BIG-DAG: binary_linear_2_up_proj_f16_norm: {{[0-9]+}} registers, 0 bytes stack, 0 bytes spill stores, 0 bytes spill loads
// BIG-DAG: binary_linear_3_prefill16_mma: {{[0-9]+}} registers, 0 bytes stack, 0 bytes spill stores, 0 bytes spill loads, 4352 bytes smem, 32 mma.sync.aligned.m16n8k16
// BIG-DAG: binary_linear_4_decode8_gemv: {{[0-9]+}} registers, 0 bytes stack, 0 bytes spill stores, 0 bytes spill loads, 33280 bytes smem{{$}}
// BIG: kernels: 10

func.func @gemv(%x: tensor<1x4096xf32>, %s: tensor<4096x128xi32>, %g: tensor<4096xf32>,
                %h: tensor<4096xf32>) -> tensor<1x4096xf32> {
  %y = onebit.binary_linear %x, %s, %g, %h
         layout <word_bits = 32, bit_order = lsb_first, negative = 1> {onebit.name = "q_proj"}
         : (tensor<1x4096xf32>, tensor<4096x128xi32>, tensor<4096xf32>, tensor<4096xf32>) -> tensor<1x4096xf32>
  return %y : tensor<1x4096xf32>
}

func.func @gemm(%x: tensor<?x14336xf32>, %s: tensor<4096x448xi32>, %g: tensor<14336xf32>,
                %h: tensor<4096xf32>) -> tensor<?x4096xf32> {
  %y = onebit.binary_linear %x, %s, %g, %h
         layout <word_bits = 32, bit_order = lsb_first, negative = 1> {onebit.name = "down_proj"}
         : (tensor<?x14336xf32>, tensor<4096x448xi32>, tensor<14336xf32>, tensor<4096xf32>) -> tensor<?x4096xf32>
  return %y : tensor<?x4096xf32>
}

func.func @gemm_f16_norm(%x: tensor<2x?x4096xf16>, %s: tensor<11008x128xi32>, %g: tensor<4096xf16>,
                         %h: tensor<11008xf16>, %b: tensor<11008xf16>) -> tensor<2x?x11008xf16> {
  %y = onebit.binary_linear %x, %s, %g, %h bias %b
         layout <word_bits = 32, bit_order = lsb_first, negative = 1> norm_eps = 1.0e-05 {onebit.name = "up_proj_f16"}
         : (tensor<2x?x4096xf16>, tensor<11008x128xi32>, tensor<4096xf16>, tensor<11008xf16>, tensor<11008xf16>) -> tensor<2x?x11008xf16>
  return %y : tensor<2x?x11008xf16>
}

func.func @prefill16(%x: tensor<16x4096xf16>, %s: tensor<4096x128xi32>, %g: tensor<4096xf16>,
                     %h: tensor<4096xf16>, %b: tensor<4096xf16>) -> tensor<16x4096xf16> {
  %y = onebit.binary_linear %x, %s, %g, %h bias %b
         layout <word_bits = 32, bit_order = lsb_first, negative = 1> {onebit.name = "prefill16"}
         : (tensor<16x4096xf16>, tensor<4096x128xi32>, tensor<4096xf16>, tensor<4096xf16>, tensor<4096xf16>) -> tensor<16x4096xf16>
  return %y : tensor<16x4096xf16>
}

func.func @decode8(%x: tensor<8x4096xf32>, %s: tensor<4096x128xi32>, %g: tensor<4096xf32>,
                   %h: tensor<4096xf32>) -> tensor<8x4096xf32> {
  %y = onebit.binary_linear %x, %s, %g, %h
         layout <word_bits = 32, bit_order = lsb_first, negative = 1> {onebit.name = "decode8"}
         : (tensor<8x4096xf32>, tensor<4096x128xi32>, tensor<4096xf32>, tensor<4096xf32>) -> tensor<8x4096xf32>
  return %y : tensor<8x4096xf32>
}

func.func @smalln(%x: tensor<1x8192xf32>, %s: tensor<256x256xi32>, %g: tensor<8192xf32>,
                  %h: tensor<256xf32>) -> tensor<1x256xf32> {
  %y = onebit.binary_linear %x, %s, %g, %h
         layout <word_bits = 32, bit_order = lsb_first, negative = 1> {onebit.name = "smalln"}
         : (tensor<1x8192xf32>, tensor<256x256xi32>, tensor<8192xf32>, tensor<256xf32>) -> tensor<1x256xf32>
  return %y : tensor<1x256xf32>
}
