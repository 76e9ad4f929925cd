// benchmarks/gpu_kernel_report.py: the static report of the GPU kernels
// (docs/gpu.md, "Static kernel report") on small binary layers: a GEMV
// (M = 1, m-tile 1; 128-bit sign loads, one K tile: straight-line flips),
// a GEMM with M = 8 (m-tile 4) and post-norm, a K = 64
// layer whose sign flips are straight-line code, and two tensor-core
// kernels (a dynamic M: 32 rows per block, with a sign-flip kernel for
// M <= 8 chosen at run time; M = 16: 16 rows), with the A100
// model of two layers. The sign-flip loops read 4 bytes of signs per 32
// weights (0.125 B/weight), nothing spills; the tensor-core kernels issue
// 4 mma.sync per k16 step and m16 tile (K tile 128, 128 columns per block).
// The N = 64 sign-flip layers with more than one K tile have 16 blocks
// along N: their K is split over grid z, and `_splitk` adds the partial
// sums ("split-K sum").
// REQUIRES: ptxas
// RUN: rm -rf %t && mkdir -p %t
// RUN: onebit-opt %s --onebit-gpu-pipeline="chip=sm_80 features=+ptx80 format=isa" -o %t/gpu.mlir
// RUN: %python %onebit_src_root/benchmarks/gpu_kernel_report.py %t/gpu.mlir --ptxas %ptxas --json %t/report.json --keep %t/ptx | FileCheck %s
// RUN: %python %onebit_src_root/benchmarks/gpu_kernel_report.py %t/gpu.mlir --ptxas %ptxas --mma-shapes 16x8192x8192,512x8192x8192 --json %t/model.json | FileCheck %s --check-prefixes=CHECK,MODEL
// RUN: not %python %onebit_src_root/benchmarks/gpu_kernel_report.py %t/gpu.mlir --ptxas %ptxas --mma-shapes 16x0x8 2>&1 | FileCheck %s --check-prefix=BADSHAPE
// BADSHAPE: --mma-shapes: '16x0x8' is not MxNxK with positive sizes
// RUN: FileCheck %s --input-file %t/report.json --check-prefix=JSON

// CHECK: | kernel | kind | regs | smem B | spill B | m-tile | B/w | instr/32w | instr/(w*row) | stage instr/32w | stage B/w |
// CHECK-DAG: | binary_linear_0_gemv_layer_gemv | sign-flip GEMV, straight-line | {{[1-9][0-9]*}} | 16512 | 0 | 1 | 0.125 | {{[1-9][0-9]*\.[0-9]}} | {{[0-9.]+}} | {{[1-9][0-9]*\.[0-9]}} | 2.000 |
// CHECK-DAG: | binary_linear_1_gemm_layer_gemv | sign-flip GEMM | {{[1-9][0-9]*}} | 33280 | 0 | 4 | 0.125 | {{[1-9][0-9]*\.[0-9]}} | {{[0-9.]+}} | {{[1-9][0-9]*\.[0-9]}} | 8.000 |
// CHECK-DAG: | binary_linear_1_gemm_layer_splitk | split-K sum | {{[1-9][0-9]*}} | 0 | 0 | - | - | - | - | - | - |
// CHECK-DAG: | binary_linear_3_prefill_layer_splitk | split-K sum | {{[1-9][0-9]*}} | 0 | 0 | - | - | - | - | - | - |
// CHECK-DAG: | binary_linear_1_gemm_layer_norm | post-norm | {{[1-9][0-9]*}} | 64 | 0 | - | - | - | - | - | - |
// CHECK-DAG: | binary_linear_2_short_layer_gemv | sign-flip GEMV, straight-line | {{[1-9][0-9]*}} | {{[0-9]+}} | 0 | 1 | 0.125 | {{[1-9][0-9]*\.[0-9]}} | {{[0-9.]+}} | {{[1-9][0-9]*\.[0-9]}} | 2.000 |
// CHECK-DAG: | binary_linear_3_prefill_layer_mma | tensor-core GEMM | {{[1-9][0-9]*}} | 8704 | 0 | - | - | - | - | - | - |
// CHECK-DAG: | binary_linear_3_prefill_layer_gemv | sign-flip GEMM | {{[1-9][0-9]*}} | 33280 | 0 | 4 | 0.125 |
// CHECK-DAG: | binary_linear_4_prefill16_layer_mma | tensor-core GEMM | {{[1-9][0-9]*}} | 4352 | 0 | - | - | - | - | - | - |
// CHECK: kernels: 9
// CHECK: | kernel | rows x cols/block | K tile | mma/tile | instr/tile | instr/mma | ld.shared/tile | sign B/lane/tile |
// CHECK-DAG: | binary_linear_3_prefill_layer_mma | 32x128 | 128 | 64 | {{[1-9][0-9]*}} | {{[0-9.]+}} | 64 | 64 |
// CHECK-DAG: | binary_linear_4_prefill16_layer_mma | 16x128 | 128 | 32 | {{[1-9][0-9]*}} | {{[0-9.]+}} | 32 | 64 |
// MODEL: | layer MxNxK | kernel | GFLOP | DRAM MB | L2 MB | tensor us | DRAM us | L2 us | issue us | bound us | by | TFLOP/s at bound |
// MODEL-NEXT: |---|
// MODEL-NEXT: | 16x8192x8192 | binary_linear_4_prefill16_layer_mma | 2.15 | 8.95 | {{[0-9.]+}} | 6.88 | 5.75 | {{[0-9.]+}} | {{[0-9.]+}} | {{[0-9.]+}} | {{tensor|DRAM|L2|issue}} | {{[0-9]+}} |
// MODEL-NEXT: | 512x8192x8192 | binary_linear_3_prefill_layer_mma | 68.72 | 25.20 | {{[0-9.]+}} | 220.25 | 16.20 | {{[0-9.]+}} | {{[0-9.]+}} | {{[0-9.]+}} | {{tensor|DRAM|L2|issue}} | {{[0-9]+}} |

// JSON-DAG: "bytes_per_weight": 0.125{{,?$}}
// JSON-DAG: "weights_per_iter": 32{{,?$}}
// JSON-DAG: "sign_bytes_per_iter": 4{{,?$}}

func.func @gemv(%x: tensor<1x4096xf32>, %s: tensor<64x128xi32>, %g: tensor<4096xf32>,
                %h: tensor<64xf32>) -> tensor<1x64xf32> {
  %y = onebit.binary_linear %x, %s, %g, %h
         layout <word_bits = 32, bit_order = lsb_first, negative = 1> {onebit.name = "gemv_layer"}
         : (tensor<1x4096xf32>, tensor<64x128xi32>, tensor<4096xf32>, tensor<64xf32>) -> tensor<1x64xf32>
  return %y : tensor<1x64xf32>
}

func.func @gemm(%x: tensor<8x4096xf32>, %s: tensor<64x128xi32>, %g: tensor<4096xf32>,
                %h: tensor<64xf32>) -> tensor<8x64xf32> {
  %y = onebit.binary_linear %x, %s, %g, %h
         layout <word_bits = 32, bit_order = lsb_first, negative = 1> norm_eps = 1.0e-05 {onebit.name = "gemm_layer"}
         : (tensor<8x4096xf32>, tensor<64x128xi32>, tensor<4096xf32>, tensor<64xf32>) -> tensor<8x64xf32>
  return %y : tensor<8x64xf32>
}

func.func @short(%x: tensor<1x64xf32>, %s: tensor<64x2xi32>, %g: tensor<64xf32>,
                 %h: tensor<64xf32>) -> tensor<1x64xf32> {
  %y = onebit.binary_linear %x, %s, %g, %h
         layout <word_bits = 32, bit_order = lsb_first, negative = 1> {onebit.name = "short_layer"}
         : (tensor<1x64xf32>, tensor<64x2xi32>, tensor<64xf32>, tensor<64xf32>) -> tensor<1x64xf32>
  return %y : tensor<1x64xf32>
}

func.func @prefill(%x: tensor<?x4096xf16>, %s: tensor<256x128xi32>, %g: tensor<4096xf16>,
                   %h: tensor<256xf16>) -> tensor<?x256xf16> {
  %y = onebit.binary_linear %x, %s, %g, %h
         layout <word_bits = 32, bit_order = lsb_first, negative = 1> {onebit.name = "prefill_layer"}
         : (tensor<?x4096xf16>, tensor<256x128xi32>, tensor<4096xf16>, tensor<256xf16>) -> tensor<?x256xf16>
  return %y : tensor<?x256xf16>
}

func.func @prefill16(%x: tensor<16x4096xf16>, %s: tensor<256x128xi32>, %g: tensor<4096xf16>,
                     %h: tensor<256xf16>) -> tensor<16x256xf16> {
  %y = onebit.binary_linear %x, %s, %g, %h
         layout <word_bits = 32, bit_order = lsb_first, negative = 1> {onebit.name = "prefill16_layer"}
         : (tensor<16x4096xf16>, tensor<256x128xi32>, tensor<4096xf16>, tensor<256xf16>) -> tensor<16x256xf16>
  return %y : tensor<16x256xf16>
}
