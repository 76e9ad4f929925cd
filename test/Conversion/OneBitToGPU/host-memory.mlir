// onebit-gpu-host-memory: host buffers become visible to kernels. The
// caller's inputs are registered on entry and unregistered before returning;
// allocations become managed memory; constant globals are registered where
// they are taken. Buffers inside launches and private functions' arguments
// are left alone.
// RUN: onebit-opt %s --split-input-file --onebit-gpu-host-memory | FileCheck %s

memref.global "private" constant @w : memref<4xf32> = dense<[1.0, 2.0, 3.0, 4.0]>

// CHECK-LABEL: func.func @entry(
// CHECK-SAME: %[[X:.*]]: memref<4xf32>, %[[N:.*]]: index)
// CHECK: %[[XU:.*]] = memref.cast %[[X]] : memref<4xf32> to memref<*xf32>
// CHECK-NEXT: gpu.host_register %[[XU]] : memref<*xf32>
// CHECK: %[[W:.*]] = memref.get_global @w
// CHECK-NEXT: %[[WU:.*]] = memref.cast %[[W]]
// CHECK-NEXT: gpu.host_register %[[WU]]
// CHECK: %[[Y:.*]] = gpu.alloc  host_shared () : memref<4xf32>
// CHECK: %[[T:.*]] = gpu.alloc  host_shared () : memref<4xf32>
// CHECK: gpu.launch
// CHECK: memref.alloca
// CHECK: gpu.terminator
// CHECK: %[[T0:.*]] = gpu.wait async
// CHECK: gpu.dealloc async [%[[T0]]] %[[T]]
// CHECK: %[[XU2:.*]] = memref.cast %[[X]] : memref<4xf32> to memref<*xf32>
// CHECK-NEXT: gpu.host_unregister %[[XU2]] : memref<*xf32>
// CHECK-NEXT: return %[[Y]]
func.func @entry(%x: memref<4xf32>, %n: index) -> memref<4xf32> {
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %w = memref.get_global @w : memref<4xf32>
  %y = memref.alloc() : memref<4xf32>
  %t = memref.alloc() : memref<4xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c4, %sy = %c1, %sz = %c1) {
    %s = memref.alloca() : memref<1xf32>
    %a = memref.load %x[%tx] : memref<4xf32>
    %b = memref.load %w[%tx] : memref<4xf32>
    %c = arith.addf %a, %b : f32
    memref.store %c, %t[%tx] : memref<4xf32>
    memref.store %c, %y[%tx] : memref<4xf32>
    gpu.terminator
  }
  memref.dealloc %t : memref<4xf32>
  return %y : memref<4xf32>
}

// CHECK-LABEL: func.func private @helper(
// CHECK-NOT: gpu.host_register
// CHECK: return
func.func private @helper(%x: memref<4xf32>) {
  return
}

// -----

// KV caches are device memory the caller allocated: not registered; the
// other arguments are.
// CHECK-LABEL: func.func @decode(
// CHECK-SAME: %[[IDS:[^:]*]]: memref<1x1xi64>, %[[K:[^:]*]]: memref<2x?x4xf32> {onebit.kv_cache})
// CHECK: %[[U:.*]] = memref.cast %[[IDS]]
// CHECK-NEXT: gpu.host_register %[[U]]
// CHECK-NOT: gpu.host_register
// CHECK: gpu.launch
// CHECK: gpu.host_unregister
// CHECK-NOT: gpu.host_unregister
// CHECK: return
func.func @decode(%ids: memref<1x1xi64>, %k: memref<2x?x4xf32> {onebit.kv_cache}) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %n = memref.dim %k, %c1 : memref<2x?x4xf32>
  %slot = memref.subview %k[0, 0, 0] [1, 1, 4] [1, 1, 1] : memref<2x?x4xf32> to memref<4xf32, strided<[1]>>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c4, %sy = %c1, %sz = %c1) {
    %i = memref.load %ids[%c0, %c0] : memref<1x1xi64>
    %f = arith.sitofp %i : i64 to f32
    memref.store %f, %slot[%tx] : memref<4xf32, strided<[1]>>
    gpu.terminator
  }
  return
}

// A train step updated in place (onebit-build-train-step update-in-place):
// its parameters and moments are device memory the training session holds
// for the run, not registered either; the step's other inputs are.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %[[P:[^:]*]]: memref<4xf32> {onebit.train_state}, %[[M:[^:]*]]: memref<4xf32> {onebit.train_state}, %[[LR:[^:]*]]: memref<f32>)
// CHECK: %[[U:.*]] = memref.cast %[[LR]]
// CHECK-NEXT: gpu.host_register %[[U]]
// CHECK-NOT: gpu.host_register
// CHECK: gpu.launch
// CHECK: gpu.host_unregister
// CHECK-NOT: gpu.host_unregister
// CHECK: return
func.func @train_step(%p: memref<4xf32> {onebit.train_state}, %m: memref<4xf32> {onebit.train_state}, %lr: memref<f32>) {
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c4, %sy = %c1, %sz = %c1) {
    %r = memref.load %lr[] : memref<f32>
    %g = memref.load %m[%tx] : memref<4xf32>
    %x = memref.load %p[%tx] : memref<4xf32>
    %d = arith.mulf %r, %g : f32
    %y = arith.subf %x, %d : f32
    memref.store %y, %p[%tx] : memref<4xf32>
    gpu.terminator
  }
  return
}
