// RUN: onebit-opt %s --onebit-math-approximation | FileCheck %s

// f32 exp, tanh, expm1, log, log1p and erf become arithmetic (no libm call
// left for the loops of a train step); other ops and f64 stay.
// CHECK-LABEL: func.func @f32_ops
// CHECK-NOT: math.exp
// CHECK-NOT: math.tanh
// CHECK-NOT: math.expm1
// CHECK-NOT: math.log
// CHECK-NOT: math.erf
// CHECK: math.sqrt
// CHECK: return
func.func @f32_ops(%x: f32) -> (f32, f32, f32, f32, f32, f32, f32) {
  %a = math.exp %x : f32
  %b = math.tanh %x : f32
  %c = math.expm1 %x : f32
  %d = math.log %a : f32
  %e = math.log1p %a : f32
  %f = math.erf %x : f32
  %g = math.sqrt %a : f32
  return %a, %b, %c, %d, %e, %f, %g : f32, f32, f32, f32, f32, f32, f32
}

// CHECK-LABEL: func.func @f64_stays
// CHECK: math.exp %{{.*}} : f64
func.func @f64_stays(%x: f64) -> f64 {
  %a = math.exp %x : f64
  return %a : f64
}
