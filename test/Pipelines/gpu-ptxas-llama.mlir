// A torch.onnx LLaMA export (test/e2e/models.py), imported and quantized,
// goes through the GPU pipeline; every kernel assembles with ptxas for sm_80
// without spills (registers per kernel are printed).
// REQUIRES: ptxas, onnx, torch
// RUN: rm -rf %t && mkdir -p %t
// RUN: %python %S/../e2e/models.py llama %t/llama.onnx --opset 17 --batch 2 --seq 8
// RUN: onebit-translate --import-onnx %t/llama.onnx -o %t/llama.mlir
// RUN: onebit-opt %t/llama.mlir --onebit-quantize --onebit-gpu-pipeline="chip=sm_80 features=+ptx80 format=isa" -o %t/llama-gpu.mlir
// RUN: %python %S/Inputs/gpu_ptx.py ptxas %t/llama-gpu.mlir %ptxas %t/ptx | FileCheck %s

// Two decoder layers: seven projections each become a sign-flip kernel and
// a post-norm kernel; the head stays full precision.
// CHECK-COUNT-14: binary_linear_{{[0-9]+}}_{{.*}}_gemv: {{[0-9]+}} registers, 0 bytes stack, 0 bytes spill stores, 0 bytes spill loads
// CHECK: kernels: 95
// CHECK-NOT: SPILLS
