// onebit-gpu-host-memory: a KV cache, and a train step's state updated in
// place, are given in device memory, so host code that reads or writes
// them is an error naming the op.
// RUN: onebit-opt %s --split-input-file --onebit-gpu-host-memory --verify-diagnostics

// expected-note @below {{in this function}}
func.func @host_reads_cache(%k: memref<2x4xf32> {onebit.kv_cache}) -> f32 {
  %c0 = arith.constant 0 : index
  // expected-error @below {{onebit-gpu-host-memory: host code accesses KV cache argument 0 of @host_reads_cache, which the caller gives in device memory}}
  %v = memref.load %k[%c0, %c0] : memref<2x4xf32>
  return %v : f32
}

// -----

// expected-note @below {{in this function}}
func.func @host_copies_into_a_view(%x: memref<4xf32>, %k: memref<2x4xf32> {onebit.kv_cache}) {
  %row = memref.subview %k[1, 0] [1, 4] [1, 1] : memref<2x4xf32> to memref<4xf32, strided<[1], offset: 4>>
  // expected-error @below {{host code accesses KV cache argument 1}}
  memref.copy %x, %row : memref<4xf32> to memref<4xf32, strided<[1], offset: 4>>
  return
}

// -----

// expected-note @below {{in this function}}
func.func @host_reads_train_state(%lr: memref<f32>, %p: memref<4xf32> {onebit.train_state}) -> f32 {
  %c0 = arith.constant 0 : index
  // expected-error @below {{onebit-gpu-host-memory: host code accesses train state argument 1 of @host_reads_train_state, which the caller gives in device memory}}
  %v = memref.load %p[%c0] : memref<4xf32>
  return %v : f32
}
