// The GPU pipeline takes the quantized example block (linalg on tensors +
// onebit.binary_linear) to host code in the LLVM dialect calling the mgpu*
// runtime, plus one gpu.binary (PTX, format=isa) per kernel.
// REQUIRES: ptxas
// RUN: onebit-opt %onebit_src_root/examples/tiny-decoder-block.mlir --onebit-quantize --onebit-gpu-pipeline="chip=sm_80 features=+ptx80 format=isa" -o %t.mlir
// RUN: FileCheck %s --input-file %t.mlir
// RUN: FileCheck %s --input-file %t.mlir --check-prefix=NOT
// RUN: FileCheck %s --input-file %t.mlir --check-prefix=RES
// RUN: %python %S/Inputs/gpu_ptx.py dump %t.mlir | FileCheck %s --check-prefix=PTX
// The defaults are the same (A100, PTX).
// RUN: onebit-opt %onebit_src_root/examples/tiny-decoder-block.mlir --onebit-quantize --onebit-gpu-pipeline | FileCheck %s

// NOT-NOT: onebit.binary_linear
// NOT-NOT: linalg.
// NOT-NOT: bufferization.
// NOT-NOT: memref.
// NOT-NOT: scf.
// NOT-NOT: gpu.module
// NOT-NOT: gpu.launch {
// NOT-NOT: gpu.dealloc
// NOT-NOT: gpu.alloc

// The 10 constants kernels read (signs, g, h of three layers; the FP head)
// live in device memory: @main registers only the caller's input and copies
// no constant; the load constructor copies each once, the destructor frees
// each.
// RES-LABEL: llvm.func @main(
// RES: llvm.call @mgpuMemHostRegisterMemRef
// RES-NOT: llvm.call @mgpuMemHostRegisterMemRef
// RES-NOT: llvm.call @mgpuMemcpy
// RES-LABEL: llvm.func internal @__onebit_gpu_upload_constants()
// RES-COUNT-10: llvm.call @mgpuMemcpy
// RES-NOT: llvm.call @mgpuMemcpy
// RES-LABEL: llvm.func internal @__onebit_gpu_free_constants()
// RES-COUNT-10: llvm.call @mgpuMemFree
// RES-NOT: llvm.call @mgpuMemFree
// RES: llvm.mlir.global_ctors ctors = [@__onebit_gpu_upload_constants]
// RES: llvm.mlir.global_dtors dtors = [@__onebit_gpu_free_constants]

// CHECK-DAG: gpu.binary @binary_linear_0_model_layers_0_mlp_gate_proj_weight_gemv  [#gpu.object<#nvvm.target<O = 3, chip = "sm_80", features = "+ptx80">, {{.*}}assembly = "
// CHECK-DAG: gpu.binary @binary_linear_0_model_layers_0_mlp_gate_proj_weight_norm
// CHECK-DAG: gpu.binary @binary_linear_2_model_layers_0_mlp_down_proj_weight_gemv
// CHECK-DAG: gpu.binary @main_kernel
// CHECK-DAG: llvm.func @main(
// CHECK-DAG: llvm.call @mgpuMemAlloc
// CHECK-DAG: llvm.call @mgpuMemFree
// CHECK-DAG: llvm.call @mgpuMemHostRegisterMemRef
// CHECK-DAG: gpu.launch_func  @binary_linear_0_model_layers_0_mlp_gate_proj_weight_gemv::@binary_linear_0_model_layers_0_mlp_gate_proj_weight_gemv blocks in ({{.*}}) threads in ({{.*}}) : i64 args(
// CHECK-DAG: gpu.launch_func  @binary_linear_0_model_layers_0_mlp_gate_proj_weight_norm::@binary_linear_0_model_layers_0_mlp_gate_proj_weight_norm

// The sign-flip kernel as PTX (32-bit sign words from global memory, staged
// x*g in shared memory, sign bits xor-ed in, a shuffle reduction, nothing in
// local memory).
// PTX-LABEL: // ----- gpu.binary @binary_linear_0_model_layers_0_mlp_gate_proj_weight_gemv
// PTX: .target sm_80
// PTX-NOT: .local
// PTX: .shared .align 4 .b8 {{.*}}[16896]
// PTX-NOT: .local
// PTX: bar.sync
// PTX-NOT: .local
// PTX: ld.global.b32
// PTX-NOT: .local
// PTX: ld.shared.b32
// PTX-NEXT: xor.b32
// PTX-NOT: .local
// PTX: add.rn.f32
// PTX-NOT: .local
// PTX: shfl.sync.bfly.b32
// PTX-NOT: .local
// PTX: ret;
// PTX-LABEL: // ----- gpu.binary @binary_linear_0_model_layers_0_mlp_gate_proj_weight_norm
// PTX-NOT: .extern
// PTX-NOT: .local
// PTX: shfl.sync.bfly.b32
// PTX: rsqrt.approx
// PTX-LABEL: // ----- gpu.binary @main_kernel
