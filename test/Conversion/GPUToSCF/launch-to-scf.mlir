// convert-gpu-launch-to-scf: a gpu.launch becomes host loops. The grid is
// sequential loops over block ids; the block's threads a loop over the
// linear thread id per phase; barriers and shuffles end phases; values that
// cross phases live in per-thread arrays; thread-independent values are
// computed once per block.
// RUN: onebit-opt %s --convert-gpu-launch-to-scf --split-input-file --verify-diagnostics | FileCheck %s

// CHECK-LABEL: func.func @phases
// CHECK-NOT: gpu.
// Buffers once, before the grid: workgroup memory and the per-thread array
// of %v (used after the barrier).
// CHECK: %[[SHM:.*]] = memref.alloc() : memref<64xf32>
// CHECK: %[[IDX:.*]] = memref.alloc() : memref<64xindex>
// CHECK: %[[V:.*]] = memref.alloc() : memref<64xf32>
// CHECK: scf.for %[[BZ:.*]] = %c0 to %c1
// CHECK: scf.for %[[BY:.*]] = %c0 to %c1
// CHECK: scf.for %[[BX:.*]] = %c0 to %[[GX:.*]] step
// Thread-independent: computed once per block.
// CHECK: %[[ROW:.*]] = arith.muli %[[BX]], %c64
// Phase 1: every thread loads its element, keeps it and stages it.
// CHECK: scf.for %[[T:.*]] = %c0{{.*}} to %c64{{.*}} step
// CHECK: %[[I:.*]] = arith.addi %[[ROW]], %[[T]]
// CHECK: memref.store %[[I]], %[[IDX]][%[[T]]]
// CHECK: %[[X:.*]] = memref.load %{{.*}}[%[[I]]]
// CHECK-DAG: memref.store %[[X]], %[[V]][%[[T]]]
// CHECK-DAG: memref.store %[[X]], %[[SHM]][%[[T]]]
// Phase 2 (after the barrier): reads the neighbour's staged value and its
// own kept one.
// CHECK: scf.for %[[T2:.*]] = %c0{{.*}} to %c64{{.*}} step
// CHECK-DAG: %[[MINE:.*]] = memref.load %[[V]][%[[T2]]]
// CHECK-DAG: %[[I2:.*]] = memref.load %[[IDX]][%[[T2]]]
// CHECK: %[[NB:.*]] = memref.load %[[SHM]]
// CHECK: %[[SUM:.*]] = arith.addf %[[MINE]], %[[NB]]
// CHECK: memref.store %[[SUM]], %{{.*}}[%[[I2]]]
// CHECK: memref.dealloc %[[SHM]]
// CHECK: memref.dealloc %[[IDX]]
// CHECK: memref.dealloc %[[V]]
func.func @phases(%x: memref<?xf32>, %y: memref<?xf32>, %nb: index) {
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %nb, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1)
             workgroup(%shm : memref<64xf32, #gpu.address_space<workgroup>>) {
    %k64 = arith.constant 64 : index
    %k1 = arith.constant 1 : index
    %row = arith.muli %bx, %k64 : index
    %i = arith.addi %row, %tx : index
    %v = memref.load %x[%i] : memref<?xf32>
    memref.store %v, %shm[%tx] : memref<64xf32, #gpu.address_space<workgroup>>
    gpu.barrier
    %n0 = arith.addi %tx, %k1 : index
    %n = arith.remui %n0, %k64 : index
    %w = memref.load %shm[%n] : memref<64xf32, #gpu.address_space<workgroup>>
    %s = arith.addf %v, %w : f32
    memref.store %s, %y[%i] : memref<?xf32>
    gpu.terminator
  }
  return
}

// -----

// A shuffle is a phase of its own: lane t reads the source lane's value
// from the array its operand was kept in.
// CHECK-LABEL: func.func @shuffle
// CHECK: %[[VAL:.*]] = memref.alloc() : memref<32xf32>
// CHECK: %[[RES:.*]] = memref.alloc() : memref<32xf32>
// CHECK: %[[OK:.*]] = memref.alloc() : memref<32xi1>
// CHECK: scf.for %[[T:.*]] = %c0{{.*}} to %c32{{.*}} step
// CHECK: memref.store %{{.*}}, %[[VAL]][%[[T]]]
// CHECK: scf.for %[[T2:.*]] = %c0{{.*}} to %c32{{.*}} step
// CHECK: %[[SRC:.*]] = arith.xori
// CHECK: %[[LANE:.*]] = arith.select %{{.*}}, %{{.*}}, %[[T2]] : index
// CHECK: %[[GOT:.*]] = memref.load %[[VAL]][%[[LANE]]]
// CHECK: memref.store %[[GOT]], %[[RES]][%[[T2]]]
// CHECK: memref.store %{{.*}}, %[[OK]][%[[T2]]]
// CHECK: scf.for %[[T3:.*]] = %c0{{.*}} to %c32{{.*}} step
// CHECK: memref.load %[[RES]][%[[T3]]]
func.func @shuffle(%x: memref<32xf32>) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c32, %sy = %c1, %sz = %c1) {
    %off = arith.constant 16 : i32
    %width = arith.constant 32 : i32
    %v = memref.load %x[%tx] : memref<32xf32>
    %r, %ok = gpu.shuffle xor %v, %off, %width : f32
    %s = arith.addf %v, %r : f32
    memref.store %s, %x[%tx] : memref<32xf32>
    gpu.terminator
  }
  return
}

// -----

// A loop whose body synchronises stays one loop around its phases; its
// loop-carried value lives in a per-thread array.
// CHECK-LABEL: func.func @carried
// CHECK: %[[ACC:.*]] = memref.alloc() : memref<32xf32>
// CHECK: scf.for %[[T0:.*]] = %c0{{.*}} to %c32{{.*}} step
// CHECK: memref.store %cst{{.*}}, %[[ACC]][%[[T0]]]
// CHECK: scf.for %[[I:.*]] = %c0{{.*}} to %c4{{.*}} step %c1{{.*}} {
// CHECK-NOT: iter_args
// CHECK: scf.for %[[T:.*]] = %c0{{.*}} to %c32{{.*}} step
// CHECK: memref.load %[[ACC]][%[[T]]]
// CHECK: memref.store %{{.*}}, %[[ACC]][%[[T]]]
// CHECK: scf.for %[[T2:.*]] = %c0{{.*}} to %c32{{.*}} step
// CHECK: %[[FINAL:.*]] = memref.load %[[ACC]][%[[T2]]]
// CHECK: memref.store %[[FINAL]], %{{.*}}[%[[T2]]]
func.func @carried(%x: memref<32xf32>) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c32, %sy = %c1, %sz = %c1) {
    %k0 = arith.constant 0 : index
    %k1 = arith.constant 1 : index
    %k4 = arith.constant 4 : index
    %zero = arith.constant 0.0 : f32
    %acc = scf.for %i = %k0 to %k4 step %k1 iter_args(%a = %zero) -> (f32) {
      gpu.barrier
      %v = memref.load %x[%tx] : memref<32xf32>
      %n = arith.addf %a, %v : f32
      scf.yield %n : f32
    }
    memref.store %acc, %x[%tx] : memref<32xf32>
    gpu.terminator
  }
  return
}

// -----

func.func @divergent_barrier(%x: memref<32xf32>) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c32, %sy = %c1, %sz = %c1) {
    %k0 = arith.constant 0 : index
    %first = arith.cmpi eq, %tx, %k0 : index
    // expected-error @+1 {{cannot be emulated on the host: gpu.barrier or gpu.shuffle under 'scf.if'}}
    scf.if %first {
      gpu.barrier
    }
    gpu.terminator
  }
  return
}

// -----

func.func @thread_dependent_trip_count(%x: memref<32xf32>) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c32, %sy = %c1, %sz = %c1) {
    %k0 = arith.constant 0 : index
    %k1 = arith.constant 1 : index
    // expected-error @+1 {{a loop containing gpu.barrier or gpu.shuffle has bounds that depend on the thread}}
    scf.for %i = %k0 to %tx step %k1 {
      gpu.barrier
    }
    gpu.terminator
  }
  return
}

// -----

func.func @dynamic_block(%x: memref<32xf32>, %n: index) {
  %c1 = arith.constant 1 : index
  // expected-error @+1 {{block sizes must be positive constants}}
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %n, %sy = %c1, %sz = %c1) {
    gpu.terminator
  }
  return
}

// -----

func.func @mma_other_shape(%a: vector<2x2xf16>, %b: vector<1x2xf16>,
                           %c: vector<2x2xf32>) {
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c32, %sy = %c1, %sz = %c1) {
    // expected-error @+1 {{only mma.sync m16n8k16 with vector<4x2xf16> A, vector<2x2xf16> B and vector<2x2xf32> C is emulated}}
    %d = nvgpu.mma.sync (%a, %b, %c) {mmaShape = [16, 8, 8]}
        : (vector<2x2xf16>, vector<1x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>
    gpu.terminator
  }
  return
}

// -----

func.func @mma_partial_warp(%a: vector<4x2xf16>, %b: vector<2x2xf16>,
                            %c: vector<2x2xf32>) {
  %c1 = arith.constant 1 : index
  %c48 = arith.constant 48 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c48, %sy = %c1, %sz = %c1) {
    // expected-error @+1 {{mma.sync needs whole warps, the block has 48 threads}}
    %d = nvgpu.mma.sync (%a, %b, %c) {mmaShape = [16, 8, 16]}
        : (vector<4x2xf16>, vector<2x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>
    gpu.terminator
  }
  return
}
