// benchmarks/gpu_kernel_report.py: the static report of the GPU kernels
// (docs/gpu.md, "Static kernel report") on small binary layers: a GEMV
// (M = 1, m-tile 1), a GEMM with a dynamic M (m-tile 4) and post-norm, and a
// K = 64 layer whose sign flips are straight-line code. The sign-flip loops
// read 4 bytes of signs per 32 weights (0.125 B/weight), nothing spills.
// REQUIRES: ptxas
// RUN: rm -rf %t && mkdir -p %t
// RUN: onebit-opt %s --onebit-gpu-pipeline="chip=sm_80 features=+ptx80 format=isa" -o %t/gpu.mlir
// RUN: %python %onebit_src_root/benchmarks/gpu_kernel_report.py %t/gpu.mlir --ptxas %ptxas --json %t/report.json --keep %t/ptx | FileCheck %s
// RUN: FileCheck %s --input-file %t/report.json --check-prefix=JSON

// CHECK: | kernel | kind | regs | smem B | spill B | m-tile | B/w | instr/32w | instr/(w*row) | stage instr/32w | stage B/w |
// CHECK-DAG: | binary_linear_0_gemv_layer_gemv | sign-flip GEMV | {{[1-9][0-9]*}} | 8320 | 0 | 1 | 0.125 | {{[1-9][0-9]*\.[0-9]}} | {{[0-9.]+}} | {{[1-9][0-9]*\.[0-9]}} | 2.000 |
// CHECK-DAG: | binary_linear_1_gemm_layer_gemv | sign-flip GEMM | {{[1-9][0-9]*}} | 33280 | 0 | 4 | 0.125 | {{[1-9][0-9]*\.[0-9]}} | {{[0-9.]+}} | {{[1-9][0-9]*\.[0-9]}} | 8.000 |
// CHECK-DAG: | binary_linear_1_gemm_layer_norm | post-norm | {{[1-9][0-9]*}} | 64 | 0 | - | - | - | - | - | - |
// CHECK-DAG: | binary_linear_2_short_layer_gemv | sign-flip GEMV, no loop | {{[1-9][0-9]*}} | {{[0-9]+}} | 0 | 1 | 0.125 | - | - | - | - |
// CHECK: kernels: 4

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

func.func @gemm(%x: tensor<?x4096xf32>, %s: tensor<64x128xi32>, %g: tensor<4096xf32>,
                %h: tensor<64xf32>) -> tensor<?x64xf32> {
  %y = onebit.binary_linear %x, %s, %g, %h
         layout <word_bits = 32, bit_order = lsb_first, negative = 1> norm_eps = 1.0e-05 {onebit.name = "gemm_layer"}
         : (tensor<?x4096xf32>, tensor<64x128xi32>, tensor<4096xf32>, tensor<64xf32>) -> tensor<?x64xf32>
  return %y : tensor<?x64xf32>
}

func.func @short(%x: tensor<1x64xf32>, %s: tensor<64x2xi32>, %g: tensor<64xf32>,
                 %h: tensor<64xf32>) -> tensor<1x64xf32> {
  %y = onebit.binary_linear %x, %s, %g, %h
         layout <word_bits = 32, bit_order = lsb_first, negative = 1> {onebit.name = "short_layer"}
         : (tensor<1x64xf32>, tensor<64x2xi32>, tensor<64xf32>, tensor<64xf32>) -> tensor<1x64xf32>
  return %y : tensor<1x64xf32>
}
