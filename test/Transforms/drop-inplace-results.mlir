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

// A private function the module calls (an outlined layer that writes a KV
// cache) loses its tied result too, and its calls use the operand the result
// was written into; then the entry returns its own argument again.
// CHECK-LABEL: func.func private @layer(%arg0: memref<8xf32>, %arg1: index) -> memref<2xf32>
// CHECK:         return %{{.*}} : memref<2xf32>
// CHECK-LABEL: func.func @step(%arg0: memref<8xf32> {onebit.kv_cache}) -> memref<2xf32>
// CHECK:         %[[A:.*]] = call @layer(%arg0, %{{.*}}) : (memref<8xf32>, index) -> memref<2xf32>
// CHECK:         %[[B:.*]] = call @layer(%arg0, %{{.*}}) : (memref<8xf32>, index) -> memref<2xf32>
// CHECK:         return %[[B]] : memref<2xf32>
func.func private @layer(%cache: memref<8xf32>, %i: index)
    -> (memref<8xf32> {onebit.inplace_arg = 0 : i64}, memref<2xf32>) {
  %h = memref.alloc() : memref<2xf32>
  return %cache, %h : memref<8xf32>, memref<2xf32>
}
func.func @step(%cache: memref<8xf32> {onebit.kv_cache})
    -> (memref<2xf32>, memref<8xf32> {onebit.inplace_arg = 0 : i64}) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %a:2 = func.call @layer(%cache, %c0) : (memref<8xf32>, index) -> (memref<8xf32>, memref<2xf32>)
  %b:2 = func.call @layer(%a#0, %c1) : (memref<8xf32>, index) -> (memref<8xf32>, memref<2xf32>)
  return %b#1, %b#0 : memref<2xf32>, memref<8xf32>
}

// -----

// A called function whose tied result bufferization had to copy is an error.
func.func private @copying(%cache: memref<8xf32>) -> (memref<8xf32> {onebit.inplace_arg = 0 : i64}) {
  %a = memref.alloc() : memref<8xf32>
  memref.copy %cache, %a : memref<8xf32> to memref<8xf32>
  // expected-error @+1 {{result 0 of @copying should be written in place into argument 0, but bufferization returns another buffer}}
  return %a : memref<8xf32>
}
func.func @user(%cache: memref<8xf32>) -> memref<8xf32> {
  %r = func.call @copying(%cache) : (memref<8xf32>) -> memref<8xf32>
  return %r : memref<8xf32>
}

// -----

// A public function the module calls too (a data-parallel gradient that the
// fused step also calls) loses its tied result as an entry does, so that it
// has one signature for the runtime and for its callers, and its calls use
// the operand instead.
// CHECK-LABEL: func.func @callee(%arg0: memref<8xf32>) {
// CHECK-NEXT:    return
// CHECK-LABEL: func.func @caller(%arg0: memref<8xf32>) -> memref<8xf32> {
// CHECK-NEXT:    call @callee(%arg0) : (memref<8xf32>) -> ()
// CHECK-NEXT:    return %arg0 : memref<8xf32>
func.func @callee(%cache: memref<8xf32>) -> (memref<8xf32> {onebit.inplace_arg = 0 : i64}) {
  return %cache : memref<8xf32>
}
func.func @caller(%cache: memref<8xf32>) -> memref<8xf32> {
  %r = func.call @callee(%cache) : (memref<8xf32>) -> memref<8xf32>
  return %r : memref<8xf32>
}
