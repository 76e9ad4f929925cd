// onebit-gpu-resident-constants: constants that only kernels read get one
// device copy, made by a load constructor and freed by a destructor; host
// code takes the copy's descriptor instead of the global. Constants with a
// host use, mutable globals and kernels' own buffers are left alone.
// RUN: onebit-opt %s --split-input-file --onebit-gpu-resident-constants | FileCheck %s
// RUN: onebit-opt %s --split-input-file --onebit-gpu-resident-constants=emulate=true | FileCheck %s --check-prefix=EMU
// With onebit-gpu-host-memory after it, only the caller's buffer and the
// constant the host reads are registered; the constructor's read of the
// constants it uploads is not.
// RUN: onebit-opt %s --split-input-file --onebit-gpu-resident-constants --onebit-gpu-host-memory | FileCheck %s --check-prefix=HOST
// RUN: not onebit-opt %s --split-input-file --onebit-gpu-resident-constants --onebit-gpu-resident-constants -o /dev/null 2>&1 | FileCheck %s --check-prefix=TWICE

memref.global "private" constant @w : memref<2x4xf32> = dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]>
memref.global "private" constant @h : memref<4xf32> = dense<[5.0, 6.0, 7.0, 8.0]>
memref.global "private" constant @s : memref<8xi32> = dense<[1, 2, 3, 4, 5, 6, 7, 8]>
memref.global "private" @state : memref<4xf32> = dense<0.0>

// @w is read by a kernel directly, @s through host views: both become the
// device copy. @h is also loaded on the host: it stays the global.
// CHECK-LABEL: func.func @entry(
// CHECK-NOT: memref.get_global @w
// CHECK-NOT: memref.get_global @s
// CHECK: %[[WA:.*]] = llvm.mlir.addressof @__onebit_dev.w : !llvm.ptr
// CHECK-NEXT: %[[WD:.*]] = llvm.load %[[WA]] : !llvm.ptr -> !llvm.struct<(ptr, ptr, i64, array<2 x i64>, array<2 x i64>)>
// CHECK-NEXT: %[[W:.*]] = builtin.unrealized_conversion_cast %[[WD]] : {{.*}} to memref<2x4xf32>
// CHECK: %[[H:.*]] = memref.get_global @h : memref<4xf32>
// CHECK: memref.load %[[H]]
// CHECK: %[[SA:.*]] = llvm.mlir.addressof @__onebit_dev.s
// CHECK: %[[S:.*]] = builtin.unrealized_conversion_cast {{.*}} to memref<8xi32>
// CHECK: memref.subview %[[S]]
// CHECK: memref.get_global @state
// CHECK: gpu.launch
// CHECK: memref.load %[[W]]
// CHECK: gpu.terminator
// CHECK: return
func.func @entry(%x: memref<4xf32>) -> memref<4xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %w = memref.get_global @w : memref<2x4xf32>
  %h = memref.get_global @h : memref<4xf32>
  %hv = memref.load %h[%c1] : memref<4xf32>
  %s = memref.get_global @s : memref<8xi32>
  %sv = memref.subview %s[4] [4] [1] : memref<8xi32> to memref<4xi32, strided<[1], offset: 4>>
  %st = memref.get_global @state : memref<4xf32>
  %y = memref.alloc() : memref<4xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c4, %sy = %c1, %sz = %c1) {
    %a = memref.load %x[%tx] : memref<4xf32>
    %b = memref.load %w[%c1, %tx] : memref<2x4xf32>
    %i = memref.load %sv[%tx] : memref<4xi32, strided<[1], offset: 4>>
    %f = arith.sitofp %i : i32 to f32
    %t = memref.load %st[%tx] : memref<4xf32>
    %c = arith.addf %a, %b : f32
    %d = arith.addf %c, %hv : f32
    %e = arith.addf %d, %f : f32
    %g = arith.addf %e, %t : f32
    memref.store %g, %y[%tx] : memref<4xf32>
    gpu.terminator
  }
  return %y : memref<4xf32>
}

// A second function that takes @w shares its one copy.
// CHECK-LABEL: func.func @other(
// CHECK: llvm.mlir.addressof @__onebit_dev.w
// CHECK-NOT: memref.get_global
// CHECK: return
// The counters and the descriptor globals (zero until loaded).
// CHECK-DAG: llvm.mlir.global external @onebit_gpu_uploads(0 : i64)
// CHECK-DAG: llvm.mlir.global external @onebit_gpu_upload_bytes(0 : i64)
// CHECK-DAG: llvm.mlir.global external @onebit_gpu_resident_bytes(0 : i64)
// CHECK-DAG: llvm.mlir.global internal @__onebit_dev.w() {{.*}} : !llvm.struct<(ptr, ptr, i64, array<2 x i64>, array<2 x i64>)>
// CHECK-DAG: llvm.mlir.global internal @__onebit_dev.s() {{.*}} : !llvm.struct<(ptr, ptr, i64, array<1 x i64>, array<1 x i64>)>
// CHECK-NOT: @__onebit_dev.h
// CHECK-NOT: @__onebit_dev.state
func.func @other(%y: memref<4xf32>) {
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %w = memref.get_global @w : memref<2x4xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c4, %sy = %c1, %sz = %c1) {
    %b = memref.load %w[%c1, %tx] : memref<2x4xf32>
    memref.store %b, %y[%tx] : memref<4xf32>
    gpu.terminator
  }
  return
}

// The constructor: one allocation and one host-to-device copy per
// constant, in module order; the descriptor is published and counted.
// CHECK-LABEL: llvm.func internal @__onebit_gpu_upload_constants()
// CHECK: %[[HW:.*]] = memref.get_global @w : memref<2x4xf32>
// CHECK: %[[T0:.*]] = gpu.wait async
// CHECK: %[[DW:.*]], %[[T1:.*]] = gpu.alloc async [%[[T0]]] () : memref<2x4xf32>
// CHECK: %[[T2:.*]] = gpu.memcpy async [%[[T1]]] %[[DW]], %[[HW]]
// CHECK: gpu.wait [%[[T2]]]
// CHECK: %[[DD:.*]] = builtin.unrealized_conversion_cast %[[DW]]
// CHECK: %[[A:.*]] = llvm.mlir.addressof @__onebit_dev.w
// CHECK: llvm.store %[[DD]], %[[A]]
// CHECK: llvm.mlir.addressof @onebit_gpu_uploads
// CHECK: llvm.mlir.constant(1 : i64)
// CHECK: llvm.mlir.addressof @onebit_gpu_upload_bytes
// CHECK: llvm.mlir.constant(32 : i64)
// CHECK: llvm.mlir.addressof @onebit_gpu_resident_bytes
// CHECK: llvm.mlir.constant(32 : i64)
// CHECK: memref.get_global @s : memref<8xi32>
// CHECK: gpu.memcpy
// CHECK: llvm.mlir.addressof @__onebit_dev.s
// CHECK-NOT: memref.get_global
// CHECK: llvm.return

// The destructor frees each copy that was made (a null descriptor: the
// constructor never ran) and zeroes its descriptor.
// CHECK-LABEL: llvm.func internal @__onebit_gpu_free_constants()
// CHECK: %[[A:.*]] = llvm.mlir.addressof @__onebit_dev.w
// CHECK: %[[D:.*]] = llvm.load %[[A]]
// CHECK: %[[P:.*]] = llvm.extractvalue %[[D]][0]
// CHECK: %[[NE:.*]] = llvm.icmp "ne" %[[P]]
// CHECK: scf.if %[[NE]] {
// CHECK: %[[M:.*]] = builtin.unrealized_conversion_cast %[[D]] {{.*}} to memref<2x4xf32>
// CHECK: gpu.dealloc async [%{{.*}}] %[[M]]
// CHECK: llvm.store %{{.*}}, %[[A]]
// CHECK: llvm.mlir.constant(-32 : i64)
// CHECK: }
// CHECK: llvm.mlir.addressof @__onebit_dev.s
// CHECK: gpu.dealloc
// CHECK: llvm.return
// CHECK: llvm.mlir.global_ctors ctors = [@__onebit_gpu_upload_constants], priorities = [65535 : i32]
// CHECK: llvm.mlir.global_dtors dtors = [@__onebit_gpu_free_constants], priorities = [65535 : i32]

// Emulation: host buffers, the same structure.
// EMU-LABEL: llvm.func internal @__onebit_gpu_upload_constants()
// EMU: %[[HW:.*]] = memref.get_global @w : memref<2x4xf32>
// EMU-NEXT: %[[DW:.*]] = memref.alloc() {alignment = 64 : i64} : memref<2x4xf32>
// EMU-NEXT: memref.copy %[[HW]], %[[DW]]
// EMU-NOT: gpu.
// EMU-LABEL: llvm.func internal @__onebit_gpu_free_constants()
// EMU: memref.dealloc
// EMU-NOT: gpu.
// EMU: llvm.mlir.global_ctors

// HOST-LABEL: func.func @entry(
// HOST: gpu.host_register
// HOST: memref.get_global @h
// HOST-NEXT: memref.cast
// HOST-NEXT: gpu.host_register
// HOST: memref.get_global @state
// HOST-NEXT: memref.cast
// HOST-NEXT: gpu.host_register
// HOST: gpu.launch
// HOST-LABEL: llvm.func internal @__onebit_gpu_upload_constants()
// HOST-NOT: gpu.host_register
// HOST: llvm.return

// TWICE: error: onebit-gpu-resident-constants: the module already has constructors or destructors (did the pass run twice?)

// -----

// Nothing for kernels: the module is unchanged (no constructor).
// CHECK-LABEL: func.func @host_only(
// CHECK: memref.get_global @k
// CHECK-NOT: llvm.
// CHECK-NOT: global_ctors
memref.global "private" constant @k : memref<4xf32> = dense<1.0>
func.func @host_only(%i: index) -> f32 {
  %k = memref.get_global @k : memref<4xf32>
  %v = memref.load %k[%i] : memref<4xf32>
  return %v : f32
}
