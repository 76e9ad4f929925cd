// The compiler-generated KD train step of an imported torch.onnx LLaMA
// (teacher and student forward, L_KD, reverse mode, Adam; see
// test/e2e/train-step-torch.test for its numerics on the CPU) goes through
// the same GPU pipeline as inference: every kernel of the module assembles
// with ptxas for sm_80 and for sm_90, without spills.
// REQUIRES: ptxas, onnx, torch
// RUN: rm -rf %t && mkdir -p %t
// RUN: %python %S/../e2e/models.py llama %t/llama.onnx --opset 17 --batch 2 --seq 8
// RUN: onebit-translate --import-onnx %t/llama.onnx --mlir-print-debuginfo -o %t/llama.mlir
// RUN: onebit-opt %t/llama.mlir --mlir-print-debuginfo --onebit-quantize="keep-teacher=true" --onebit-build-train-step -o %t/step.mlir
// RUN: onebit-opt %t/step.mlir --onebit-gpu-pipeline="chip=sm_80 features=+ptx80 format=isa" -o %t/step-gpu.mlir
// RUN: %python %S/Inputs/gpu_ptx.py ptxas %t/step-gpu.mlir %ptxas %t/ptx | FileCheck %s
// RUN: onebit-opt %t/step.mlir --onebit-gpu-pipeline="chip=sm_90 features=+ptx80 format=isa" -o %t/step-gpu90.mlir
// RUN: %python %S/Inputs/gpu_ptx.py ptxas %t/step-gpu90.mlir %ptxas %t/ptx90 | FileCheck %s

// Kernels of the train step itself (Adam updates, the loss and its
// gradient are inlined into it or called from it).
// CHECK-DAG: main_train_step_kernel{{.*}}: {{[0-9]+}} registers, 0 bytes stack, 0 bytes spill stores, 0 bytes spill loads
// CHECK-DAG: main_kd_loss_grad_kernel{{.*}}: {{[0-9]+}} registers, 0 bytes stack, 0 bytes spill stores, 0 bytes spill loads
// CHECK: kernels: {{[0-9]+}}
// CHECK-NOT: SPILLS
