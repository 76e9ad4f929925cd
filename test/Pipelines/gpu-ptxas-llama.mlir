// A torch.onnx LLaMA export (test/e2e/models.py), imported and quantized,
// goes through the GPU pipeline; every kernel assembles with ptxas for sm_80
// and for sm_90 without spills (registers per kernel are printed).
// REQUIRES: ptxas, onnx, torch
// RUN: rm -rf %t && mkdir -p %t
// RUN: %python %S/../e2e/models.py llama %t/llama.onnx --opset 17 --batch 2 --seq 8
// RUN: onebit-translate --import-onnx %t/llama.onnx -o %t/llama.mlir
// RUN: onebit-opt %t/llama.mlir --onebit-quantize --onebit-gpu-pipeline="chip=sm_80 features=+ptx80 format=isa" -o %t/llama-gpu.mlir
// RUN: %python %S/Inputs/gpu_ptx.py ptxas %t/llama-gpu.mlir %ptxas %t/ptx | FileCheck %s
// RUN: onebit-opt %t/llama.mlir --onebit-quantize --onebit-gpu-pipeline="chip=sm_90 features=+ptx80 format=isa" -o %t/llama-gpu90.mlir
// RUN: %python %S/Inputs/gpu_ptx.py ptxas %t/llama-gpu90.mlir %ptxas %t/ptx90 | FileCheck %s
// With the head in weight-only int8 (--onebit-int8-weights), the head is one
// more kernel (the contraction, then * scale) that loads the int8 weights.
// RUN: onebit-opt %t/llama.mlir --onebit-quantize --onebit-int8-weights --onebit-gpu-pipeline="chip=sm_80 features=+ptx80 format=isa" -o %t/llama-int8-gpu.mlir
// RUN: %python %S/Inputs/gpu_ptx.py ptxas %t/llama-int8-gpu.mlir %ptxas %t/ptx8 | FileCheck %s --check-prefix=INT8
// RUN: cat %t/ptx8/*.ptx | FileCheck %s --check-prefix=INT8PTX
// RUN: onebit-opt %t/llama.mlir --onebit-quantize --onebit-int8-weights --onebit-gpu-pipeline="chip=sm_90 features=+ptx80 format=isa" -o %t/llama-int8-gpu90.mlir
// RUN: %python %S/Inputs/gpu_ptx.py ptxas %t/llama-int8-gpu90.mlir %ptxas %t/ptx890 | FileCheck %s --check-prefix=INT8
// INT8: kernels: 96
// INT8-NOT: SPILLS
// INT8PTX: ld.global.s8
// INT8PTX: cvt.rn.f32.s16

// Two decoder layers: seven projections each become a tensor-core kernel
// (M = 2 x 8 = 16 rows: one m16 tile per warp, 4 mma.sync per k16 step;
// K = 64 is one short K tile of 4 steps) and a post-norm kernel; the head
// stays full precision.
// CHECK-COUNT-14: binary_linear_{{[0-9]+}}_{{.*}}_mma: {{[0-9]+}} registers, 0 bytes stack, 0 bytes spill stores, 0 bytes spill loads, {{[0-9]+}} bytes smem, {{[0-9]+}} mma.sync.aligned.m16n8k16
// CHECK: kernels: 95
// CHECK-NOT: SPILLS
