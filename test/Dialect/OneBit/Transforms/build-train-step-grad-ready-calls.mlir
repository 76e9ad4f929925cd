// RUN: onebit-opt %S/build-train-step.mlir --onebit-build-train-step="split-update=true update-in-place=true grad-destinations=true grad-ready-calls=true" | FileCheck %s
// RUN: onebit-opt %S/build-train-step.mlir --onebit-build-train-step="split-update=true update-in-place=true grad-destinations=true grad-ready-calls=true" \
// RUN:   | onebit-opt --pass-pipeline='builtin.module(convert-onebit-to-runtime,func.func(onebit-decompose-train-form,onebit-decompose-aggregates,onebit-legalize-expand-shape,convert-elementwise-to-linalg),canonicalize,linalg-fuse-elementwise-ops,func.func(onebit-destination-inits),one-shot-bufferize{bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map},canonicalize)' \
// RUN:   | FileCheck %s --check-prefix=BUF
// RUN: onebit-opt %S/build-train-step.mlir --onebit-build-train-step="split-update=true update-in-place=true grad-destinations=true grad-ready-calls=true" --onebit-cpu-pipeline | FileCheck %s --check-prefix=LLVM
// RUN: not onebit-opt %S/build-train-step.mlir --onebit-build-train-step="split-update=true grad-ready-calls=true" 2>&1 | FileCheck %s --check-prefix=NODEST

// grad-ready-calls=true (what the CPU trainer builds, so that a
// data-parallel run all-reduces each bucket of gradients during the rest of
// the backward): right after each gradient is materialized in its
// destination, the destination's address goes to the runtime. The backward
// runs from the last layer to the first, so layer 1's gradients are
// announced before layer 0's.
// CHECK-LABEL: func.func @lm_kd_loss_grad(
// CHECK: %[[D12:.*]] = bufferization.materialize_in_destination %{{.*}} in %arg12
// CHECK-NEXT: %[[B12:.*]] = bufferization.to_buffer %[[D12]] read_only : tensor<8xf32> to memref<8xf32>
// CHECK-NEXT: %[[P12:.*]] = memref.extract_aligned_pointer_as_index %[[B12]] : memref<8xf32> -> index
// CHECK-NEXT: call @onebit_runtime_grad_ready(%[[P12]]) : (index) -> ()
// CHECK: materialize_in_destination %{{.*}} in %arg10
// CHECK-NEXT: to_buffer
// CHECK-NEXT: extract_aligned_pointer_as_index
// CHECK-NEXT: call @onebit_runtime_grad_ready
// CHECK: materialize_in_destination %{{.*}} in %arg7
// CHECK-NEXT: to_buffer
// CHECK-NEXT: extract_aligned_pointer_as_index
// CHECK-NEXT: call @onebit_runtime_grad_ready
// CHECK: return
// CHECK: func.func private @onebit_runtime_grad_ready(index)

// Bufferized, each call comes right after the op that writes the gradient
// into its destination, takes the destination's own address, and adds no
// copy: the buffer is only read.
// BUF-LABEL: func.func @lm_kd_loss_grad(
// BUF-NOT: memref.copy {{.*}}, %arg{{(7|8|9|10|11|12)}} :
// BUF: outs(%arg12 : memref<8xf32>)
// BUF: linalg.yield
// BUF-NEXT: }
// BUF-NEXT: %[[P:.*]] = memref.extract_aligned_pointer_as_index %arg12
// BUF-NEXT: call @onebit_runtime_grad_ready(%[[P]])
// BUF-NOT: memref.copy {{.*}}, %arg{{(7|8|9|10|11|12)}} :
// BUF: outs(%arg7 : memref<8x8xf32>)
// BUF: linalg.yield
// BUF-NEXT: }
// BUF-NEXT: %[[P7:.*]] = memref.extract_aligned_pointer_as_index %arg7
// BUF-NEXT: call @onebit_runtime_grad_ready(%[[P7]])
// BUF-NOT: memref.copy {{.*}}, %arg{{(7|8|9|10|11|12)}} :
// BUF: return

// Lowered: one call per parameter, of the runtime's C function.
// LLVM-COUNT-6: llvm.call @onebit_runtime_grad_ready(%{{.*}}) : (i64) -> ()
// LLVM: llvm.func @onebit_runtime_grad_ready(i64)

// NODEST: error: onebit-build-train-step: grad-ready-calls applies to a gradient with destinations (grad-destinations=true)
