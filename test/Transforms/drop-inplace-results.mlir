// RUN: onebit-opt %s --split-input-file --verify-diagnostics --onebit-drop-inplace-results | FileCheck %s

// A result tied to the argument it is written into goes from the signature
// and the return; the caller's buffer holds the update.
// CHECK-LABEL: func.func @decode(%arg0: memref<4xf32>, %arg1: memref<2x?xf32> {onebit.kv_cache}) -> (memref<4xf32> {onebit.name = "logits"})
// CHECK: return %arg0 : memref<4xf32>
func.func @decode(%x: memref<4xf32>, %cache: memref<2x?xf32> {onebit.kv_cache})
    -> (memref<4xf32> {onebit.name = "logits"},
        memref<2x?xf32> {onebit.inplace_arg = 1 : i64}) {
  %c = memref.cast %cache : memref<2x?xf32> to memref<2x?xf32>
  return %x, %c : memref<4xf32>, memref<2x?xf32>
}

// -----

// A tied result that bufferization had to copy is an error.
func.func @copied(%cache: memref<8xf32>) -> (memref<8xf32> {onebit.inplace_arg = 0 : i64}) {
  %a = memref.alloc() : memref<8xf32>
  memref.copy %cache, %a : memref<8xf32> to memref<8xf32>
  // expected-error @+1 {{result 0 of @copied should be written in place into argument 0, but bufferization returns another buffer}}
  return %a : memref<8xf32>
}

// -----

// A function the module calls keeps its results (its callers need them).
// CHECK-LABEL: func.func private @callee(%arg0: memref<8xf32>) -> (memref<8xf32> {onebit.inplace_arg = 0 : i64})
func.func private @callee(%cache: memref<8xf32>) -> (memref<8xf32> {onebit.inplace_arg = 0 : i64}) {
  return %cache : memref<8xf32>
}
func.func @caller(%cache: memref<8xf32>) -> memref<8xf32> {
  %r = func.call @callee(%cache) : (memref<8xf32>) -> memref<8xf32>
  return %r : memref<8xf32>
}
