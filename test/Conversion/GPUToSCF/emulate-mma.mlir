// The emulation of nvgpu.mma.sync (m16n8k16, f16 x f16 + f32) in
// convert-gpu-launch-to-scf, run: two warps each load their own A (16x16),
// B (16x8) and C (16x8) into fragments as the PTX ISA lays them out
// ("Matrix Fragments for mma.m16n8k16 with floating point type"), multiply,
// and store D back by the same layout. D = A B + C was computed with numpy
// (small integers: exact in f16 and f32). @main_wrong plants a wrong lane
// mapping (A's registers 1 and 2 swapped, rows 8-15 and columns 8-15 of the
// fragment exchanged); its output must not pass the same checks.
// REQUIRES: mlir-runner
// RUN: onebit-opt %s --convert-gpu-launch-to-scf --convert-scf-to-cf \
// RUN:   --expand-strided-metadata --convert-vector-to-llvm \
// RUN:   --finalize-memref-to-llvm --convert-to-llvm \
// RUN:   --reconcile-unrealized-casts -o %t.ll.mlir
// RUN: %mlir_runner %t.ll.mlir -e main -entry-point-result=void \
// RUN:   -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils | FileCheck %s
// RUN: %mlir_runner %t.ll.mlir -e main_wrong -entry-point-result=void \
// RUN:   -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN: | not FileCheck %s

func.func private @printMemrefF32(memref<*xf32>) attributes {llvm.emit_c_interface}

// Warp w (threads 32 w .. 32 w + 31) computes d[w] = a[w] b[w] + c[w].
// %swap plants the wrong mapping: A register i reads
// A[g + 8 (i / 2), 2t + j + 8 (i % 2)] instead of A[g + 8 (i % 2), ...].
func.func @mma(%a: memref<2x16x16xf16>, %b: memref<2x16x8xf16>,
               %c: memref<2x16x8xf32>, %d: memref<2x16x8xf32>, %swap: i1) {
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    %i1 = arith.constant 1 : index
    %i2 = arith.constant 2 : index
    %i4 = arith.constant 4 : index
    %i8 = arith.constant 8 : index
    %i32 = arith.constant 32 : index
    %w = arith.divui %tx, %i32 : index
    %lane = arith.remui %tx, %i32 : index
    %g = arith.divui %lane, %i4 : index
    %t = arith.remui %lane, %i4 : index
    %g8 = arith.addi %g, %i8 : index
    %k0 = arith.muli %t, %i2 : index
    %k1 = arith.addi %k0, %i1 : index
    %k8 = arith.addi %k0, %i8 : index
    %k9 = arith.addi %k1, %i8 : index
    // Registers 1 and 2 of A: rows g + 8 and columns k0 + 8, or swapped.
    %r1 = arith.select %swap, %g, %g8 : index
    %r2 = arith.select %swap, %g8, %g : index
    %c1a = arith.select %swap, %k8, %k0 : index
    %c1b = arith.select %swap, %k9, %k1 : index
    %c2a = arith.select %swap, %k0, %k8 : index
    %c2b = arith.select %swap, %k1, %k9 : index
    %a00 = memref.load %a[%w, %g, %k0] : memref<2x16x16xf16>
    %a01 = memref.load %a[%w, %g, %k1] : memref<2x16x16xf16>
    %a10 = memref.load %a[%w, %r1, %c1a] : memref<2x16x16xf16>
    %a11 = memref.load %a[%w, %r1, %c1b] : memref<2x16x16xf16>
    %a20 = memref.load %a[%w, %r2, %c2a] : memref<2x16x16xf16>
    %a21 = memref.load %a[%w, %r2, %c2b] : memref<2x16x16xf16>
    %a30 = memref.load %a[%w, %g8, %k8] : memref<2x16x16xf16>
    %a31 = memref.load %a[%w, %g8, %k9] : memref<2x16x16xf16>
    %av = vector.from_elements %a00, %a01, %a10, %a11, %a20, %a21, %a30, %a31 : vector<4x2xf16>
    %b00 = memref.load %b[%w, %k0, %g] : memref<2x16x8xf16>
    %b01 = memref.load %b[%w, %k1, %g] : memref<2x16x8xf16>
    %b10 = memref.load %b[%w, %k8, %g] : memref<2x16x8xf16>
    %b11 = memref.load %b[%w, %k9, %g] : memref<2x16x8xf16>
    %bv = vector.from_elements %b00, %b01, %b10, %b11 : vector<2x2xf16>
    %c00 = memref.load %c[%w, %g, %k0] : memref<2x16x8xf32>
    %c01 = memref.load %c[%w, %g, %k1] : memref<2x16x8xf32>
    %c10 = memref.load %c[%w, %g8, %k0] : memref<2x16x8xf32>
    %c11 = memref.load %c[%w, %g8, %k1] : memref<2x16x8xf32>
    %cv = vector.from_elements %c00, %c01, %c10, %c11 : vector<2x2xf32>
    %dv = nvgpu.mma.sync (%av, %bv, %cv) {mmaShape = [16, 8, 16]}
        : (vector<4x2xf16>, vector<2x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>
    %d00 = vector.extract %dv[0, 0] : f32 from vector<2x2xf32>
    %d01 = vector.extract %dv[0, 1] : f32 from vector<2x2xf32>
    %d10 = vector.extract %dv[1, 0] : f32 from vector<2x2xf32>
    %d11 = vector.extract %dv[1, 1] : f32 from vector<2x2xf32>
    memref.store %d00, %d[%w, %g, %k0] : memref<2x16x8xf32>
    memref.store %d01, %d[%w, %g, %k1] : memref<2x16x8xf32>
    memref.store %d10, %d[%w, %g8, %k0] : memref<2x16x8xf32>
    memref.store %d11, %d[%w, %g8, %k1] : memref<2x16x8xf32>
    gpu.terminator
  }
  return
}

// a[w, r, k] = (7 (37 w + 16 r + k)) mod 13 - 6,
// b[w, k, n] = (5 (11 w + 8 k + n)) mod 9 - 4,
// c[w, r, n] = (128 w + 8 r + n) mod 7 - 3; prints d as 32 x 8.
func.func @run(%swap: i1) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c8 = arith.constant 8 : index
  %c16 = arith.constant 16 : index
  %a = memref.alloc() : memref<2x16x16xf16>
  %b = memref.alloc() : memref<2x16x8xf16>
  %c = memref.alloc() : memref<2x16x8xf32>
  %d = memref.alloc() : memref<2x16x8xf32>
  %i3 = arith.constant 3 : i32
  %i4 = arith.constant 4 : i32
  %i5 = arith.constant 5 : i32
  %i6 = arith.constant 6 : i32
  %i7 = arith.constant 7 : i32
  %i8 = arith.constant 8 : i32
  %i9 = arith.constant 9 : i32
  %i11 = arith.constant 11 : i32
  %i13 = arith.constant 13 : i32
  %i16 = arith.constant 16 : i32
  %i37 = arith.constant 37 : i32
  %i128 = arith.constant 128 : i32
  scf.for %w = %c0 to %c2 step %c1 {
    %wi = arith.index_cast %w : index to i32
    scf.for %r = %c0 to %c16 step %c1 {
      %ri = arith.index_cast %r : index to i32
      scf.for %k = %c0 to %c16 step %c1 {
        %ki = arith.index_cast %k : index to i32
        %x0 = arith.muli %wi, %i37 : i32
        %x1 = arith.muli %ri, %i16 : i32
        %x2 = arith.addi %x0, %x1 : i32
        %x3 = arith.addi %x2, %ki : i32
        %x4 = arith.muli %x3, %i7 : i32
        %x5 = arith.remsi %x4, %i13 : i32
        %x6 = arith.subi %x5, %i6 : i32
        %v = arith.sitofp %x6 : i32 to f16
        memref.store %v, %a[%w, %r, %k] : memref<2x16x16xf16>
      }
      scf.for %n = %c0 to %c8 step %c1 {
        %ni = arith.index_cast %n : index to i32
        %y0 = arith.muli %wi, %i11 : i32
        %y1 = arith.muli %ri, %i8 : i32
        %y2 = arith.addi %y0, %y1 : i32
        %y3 = arith.addi %y2, %ni : i32
        %y4 = arith.muli %y3, %i5 : i32
        %y5 = arith.remsi %y4, %i9 : i32
        %y6 = arith.subi %y5, %i4 : i32
        %bv = arith.sitofp %y6 : i32 to f16
        memref.store %bv, %b[%w, %r, %n] : memref<2x16x8xf16>
        %z0 = arith.muli %wi, %i128 : i32
        %z2 = arith.addi %z0, %y1 : i32
        %z3 = arith.addi %z2, %ni : i32
        %z5 = arith.remsi %z3, %i7 : i32
        %z6 = arith.subi %z5, %i3 : i32
        %cv = arith.sitofp %z6 : i32 to f32
        memref.store %cv, %c[%w, %r, %n] : memref<2x16x8xf32>
      }
    }
  }
  call @mma(%a, %b, %c, %d, %swap)
      : (memref<2x16x16xf16>, memref<2x16x8xf16>, memref<2x16x8xf32>,
         memref<2x16x8xf32>, i1) -> ()
  %d2 = memref.collapse_shape %d [[0, 1], [2]]
      : memref<2x16x8xf32> into memref<32x8xf32>
  %du = memref.cast %d2 : memref<32x8xf32> to memref<*xf32>
  call @printMemrefF32(%du) : (memref<*xf32>) -> ()
  memref.dealloc %a : memref<2x16x16xf16>
  memref.dealloc %b : memref<2x16x8xf16>
  memref.dealloc %c : memref<2x16x8xf32>
  memref.dealloc %d : memref<2x16x8xf32>
  return
}

func.func @main() {
  %false = arith.constant false
  call @run(%false) : (i1) -> ()
  return
}

func.func @main_wrong() {
  %true = arith.constant true
  call @run(%true) : (i1) -> ()
  return
}

// CHECK: sizes = [32, 8]
// CHECK-NEXT: {{^\[\[}}-65, 57, -82, 31, 0, -13, 64, -64]
// CHECK-NEXT: {{^}} [69, -51, 36, 24, -15, 81, -91, 86]
// CHECK-NEXT: {{^}} [-18, 23, 37, -48, 74, -144, 86, -89]
// CHECK-NEXT: {{^}} [-1, 32, -79, 62, -65, 67, -62, 61]
// CHECK-NEXT: {{^}} [55, -50, 52, -69, 24, 18, -15, 42]
// CHECK-NEXT: {{^}} [-110, 63, -32, 15, 35, -44, 84, -94]
// CHECK-NEXT: {{^}} [63, -13, 8, 47, -58, 89, -142, 95]
// CHECK-NEXT: {{^}} [8, -17, 48, -103, 70, -90, 74, -48]
// CHECK-NEXT: {{^}} [-79, 57, -68, 59, -75, 43, 10, 11]
// CHECK-NEXT: {{^}} [68, -103, 50, -13, 14, 52, -47, 70]
// CHECK-NEXT: {{^}} [-58, 49, 12, -7, 57, -88, 91, -144]
// CHECK-NEXT: {{^}} [37, 19, -26, 57, -114, 84, -96, 84]
// CHECK-NEXT: {{^}} [28, -63, 46, -54, 53, -56, 42, -13]
// CHECK-NEXT: {{^}} [-59, 56, -83, 30, -1, -14, 63, -58]
// CHECK-NEXT: {{^}} [68, -52, 35, 23, -16, 80, -85, 85]
// CHECK-NEXT: {{^}} [-19, 22, 36, -49, 73, -138, 85, -90]
// CHECK-NEXT: {{^}} [-69, 58, -76, 42, 16, 10, 38, -78]
// CHECK-NEXT: {{^}} [49, -14, 13, 58, -48, 69, -93, 69]
// CHECK-NEXT: {{^}} [11, -8, 63, -89, 90, -145, 88, -57]
// CHECK-NEXT: {{^}} [-27, 63, -115, 83, -97, 83, -43, 38]
// CHECK-NEXT: {{^}} [52, -55, 52, -57, 41, -14, 21, 29]
// CHECK-NEXT: {{^}} [-84, 29, -2, -15, 62, -59, 72, -65]
// CHECK-NEXT: {{^}} [34, 22, -17, 79, -86, 91, -144, 69]
// CHECK-NEXT: {{^}} [35, -50, 72, -139, 91, -91, 76, -18]
// CHECK-NEXT: {{^}} [-81, 60, -60, 72, -64, 59, -16, -1]
// CHECK-NEXT: {{^}} [50, -64, 29, 16, -17, 40, -56, 55]
// CHECK-NEXT: {{^}} [-27, 20, 33, -46, 82, -96, 86, -110]
// CHECK-NEXT: {{^}} [13, 45, -60, 87, -144, 93, -84, 63]
// CHECK-NEXT: {{^}} [46, -105, 68, -92, 72, -43, 58, 8]
// CHECK-NEXT: {{^}} [-70, 57, -77, 41, 15, 16, 37, -79]
// CHECK-NEXT: {{^}} [48, -15, 12, 57, -42, 68, -94, 68]
// CHECK-NEXT: {{^}} [10, -9, 62, -83, 89, -146, 87, -58]
