// The emulation of gpu.launch on the host, run: warp shuffles in all four
// modes and widths below the warp, a block-wide tree reduction through
// workgroup memory with barriers inside a loop (3 blocks of 32 x 2
// threads), and a value carried by a loop whose body synchronises. The
// expected values were computed independently with numpy.
// REQUIRES: mlir-runner
// RUN: onebit-opt %s --convert-gpu-launch-to-scf --convert-scf-to-cf \
// RUN:   --expand-strided-metadata --finalize-memref-to-llvm --convert-to-llvm \
// RUN:   --reconcile-unrealized-casts \
// RUN: | %mlir_runner -e main -entry-point-result=void \
// RUN:   -shared-libs=%mlir_runner_utils,%mlir_c_runner_utils \
// RUN: | FileCheck %s

func.func private @printMemrefF32(memref<*xf32>) attributes {llvm.emit_c_interface}

// out[i, t]: lane t's shuffle i of x[t] = t over 2 warps; -1 where the
// source lane is invalid. i = 0: xor 1 (width 32), 1: up 3 (width 16),
// 2: down 5 (width 32), 3: idx 7 (width 8).
func.func @shuffles(%out: memref<4x64xf32>) {
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    %i0 = arith.constant 0 : index
    %i1 = arith.constant 1 : index
    %i2 = arith.constant 2 : index
    %i3 = arith.constant 3 : index
    %bad = arith.constant -1.0 : f32
    %one = arith.constant 1 : i32
    %three = arith.constant 3 : i32
    %five = arith.constant 5 : i32
    %seven = arith.constant 7 : i32
    %w8 = arith.constant 8 : i32
    %w16 = arith.constant 16 : i32
    %w32 = arith.constant 32 : i32
    %ti = arith.index_cast %tx : index to i32
    %v = arith.sitofp %ti : i32 to f32
    %r0, %ok0 = gpu.shuffle xor %v, %one, %w32 : f32
    %r1, %ok1 = gpu.shuffle up %v, %three, %w16 : f32
    %r2, %ok2 = gpu.shuffle down %v, %five, %w32 : f32
    %r3, %ok3 = gpu.shuffle idx %v, %seven, %w8 : f32
    %s0 = arith.select %ok0, %r0, %bad : f32
    %s1 = arith.select %ok1, %r1, %bad : f32
    %s2 = arith.select %ok2, %r2, %bad : f32
    %s3 = arith.select %ok3, %r3, %bad : f32
    memref.store %s0, %out[%i0, %tx] : memref<4x64xf32>
    memref.store %s1, %out[%i1, %tx] : memref<4x64xf32>
    memref.store %s2, %out[%i2, %tx] : memref<4x64xf32>
    memref.store %s3, %out[%i3, %tx] : memref<4x64xf32>
    gpu.terminator
  }
  return
}

// Block b sums x[b, :] by a tree reduction in workgroup memory (barriers
// inside an scf.for) into sums[b]; thread t carries
// acc = sum_{i<3} (i + 1) * x[b, (t + i + 1) % 64] through a loop whose body
// stages (i + 1) * x[b, :] in workgroup memory between two barriers.
func.func @reduce(%x: memref<3x64xf32>, %out: memref<3x64xf32>,
                  %sums: memref<3xf32>) {
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %c32 = arith.constant 32 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c3, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c32, %sy = %c2, %sz = %c1)
             workgroup(%shm : memref<64xf32, #gpu.address_space<workgroup>>,
                       %stage : memref<64xf32, #gpu.address_space<workgroup>>) {
    %i0 = arith.constant 0 : index
    %i1 = arith.constant 1 : index
    %i3 = arith.constant 3 : index
    %i6 = arith.constant 6 : index
    %i32 = arith.constant 32 : index
    %i64 = arith.constant 64 : index
    %zero = arith.constant 0.0 : f32
    %ty32 = arith.muli %ty, %i32 : index
    %t = arith.addi %ty32, %tx : index
    %v = memref.load %x[%bx, %t] : memref<3x64xf32>
    memref.store %v, %shm[%t] : memref<64xf32, #gpu.address_space<workgroup>>
    gpu.barrier
    scf.for %i = %i0 to %i6 step %i1 {
      %s = arith.shrui %i32, %i : index
      %active = arith.cmpi ult, %t, %s : index
      scf.if %active {
        %j = arith.addi %t, %s : index
        %a = memref.load %shm[%t] : memref<64xf32, #gpu.address_space<workgroup>>
        %b = memref.load %shm[%j] : memref<64xf32, #gpu.address_space<workgroup>>
        %c = arith.addf %a, %b : f32
        memref.store %c, %shm[%t] : memref<64xf32, #gpu.address_space<workgroup>>
      }
      gpu.barrier
    }
    %first = arith.cmpi eq, %t, %i0 : index
    scf.if %first {
      %total = memref.load %shm[%i0] : memref<64xf32, #gpu.address_space<workgroup>>
      memref.store %total, %sums[%bx] : memref<3xf32>
    }
    %acc = scf.for %i = %i0 to %i3 step %i1 iter_args(%a = %zero) -> (f32) {
      gpu.barrier
      %ip1 = arith.addi %i, %i1 : index
      %w = arith.index_cast %ip1 : index to i32
      %wf = arith.sitofp %w : i32 to f32
      %xv = memref.load %x[%bx, %t] : memref<3x64xf32>
      %scaled = arith.mulf %xv, %wf : f32
      memref.store %scaled, %stage[%t] : memref<64xf32, #gpu.address_space<workgroup>>
      gpu.barrier
      %n0 = arith.addi %t, %ip1 : index
      %n = arith.remui %n0, %i64 : index
      %other = memref.load %stage[%n] : memref<64xf32, #gpu.address_space<workgroup>>
      %next = arith.addf %a, %other : f32
      scf.yield %next : f32
    }
    memref.store %acc, %out[%bx, %t] : memref<3x64xf32>
    gpu.terminator
  }
  return
}

func.func @main() {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %c64 = arith.constant 64 : index
  %c7 = arith.constant 7 : index
  %three = arith.constant 3.0 : f32
  %sh = memref.alloc() : memref<4x64xf32>
  call @shuffles(%sh) : (memref<4x64xf32>) -> ()
  %shu = memref.cast %sh : memref<4x64xf32> to memref<*xf32>
  call @printMemrefF32(%shu) : (memref<*xf32>) -> ()

  // x[b, t] = (64 b + t) mod 7 - 3
  %x = memref.alloc() : memref<3x64xf32>
  scf.for %b = %c0 to %c3 step %c1 {
    scf.for %t = %c0 to %c64 step %c1 {
      %b64 = arith.muli %b, %c64 : index
      %k = arith.addi %b64, %t : index
      %m = arith.remui %k, %c7 : index
      %mi = arith.index_cast %m : index to i32
      %mf = arith.sitofp %mi : i32 to f32
      %v = arith.subf %mf, %three : f32
      memref.store %v, %x[%b, %t] : memref<3x64xf32>
    }
  }
  %out = memref.alloc() : memref<3x64xf32>
  %sums = memref.alloc() : memref<3xf32>
  call @reduce(%x, %out, %sums) : (memref<3x64xf32>, memref<3x64xf32>, memref<3xf32>) -> ()
  %su = memref.cast %sums : memref<3xf32> to memref<*xf32>
  call @printMemrefF32(%su) : (memref<*xf32>) -> ()
  %ou = memref.cast %out : memref<3x64xf32> to memref<*xf32>
  call @printMemrefF32(%ou) : (memref<*xf32>) -> ()
  memref.dealloc %sh : memref<4x64xf32>
  memref.dealloc %x : memref<3x64xf32>
  memref.dealloc %out : memref<3x64xf32>
  memref.dealloc %sums : memref<3xf32>
  return
}
// CHECK: sizes = [4, 64]
// CHECK-NEXT: {{^\[\[}}1,   0,   3,   2,   5,   4,   7,   6,   9,   8,   11,   10,   13,   12,   15,   14,   17,   16,   19,   18,   21,   20,   23,   22,   25,   24,   27,   26,   29,   28,   31,   30,   33,   32,   35,   34,   37,   36,   39,   38,   41,   40,   43,   42,   45,   44,   47,   46,   49,   48,   51,   50,   53,   52,   55,   54,   57,   56,   59,   58,   61,   60,   63,   62]
// CHECK-NEXT: {{^}} [-1,   -1,   -1,   0,   1,   2,   3,   4,   5,   6,   7,   8,   9,   10,   11,   12,   -1,   -1,   -1,   16,   17,   18,   19,   20,   21,   22,   23,   24,   25,   26,   27,   28,   -1,   -1,   -1,   32,   33,   34,   35,   36,   37,   38,   39,   40,   41,   42,   43,   44,   -1,   -1,   -1,   48,   49,   50,   51,   52,   53,   54,   55,   56,   57,   58,   59,   60]
// CHECK-NEXT: {{^}} [5,   6,   7,   8,   9,   10,   11,   12,   13,   14,   15,   16,   17,   18,   19,   20,   21,   22,   23,   24,   25,   26,   27,   28,   29,   30,   31,   -1,   -1,   -1,   -1,   -1,   37,   38,   39,   40,   41,   42,   43,   44,   45,   46,   47,   48,   49,   50,   51,   52,   53,   54,   55,   56,   57,   58,   59,   60,   61,   62,   63,   -1,   -1,   -1,   -1,   -1]
// CHECK-NEXT: {{^}} [7,   7,   7,   7,   7,   7,   7,   7,   15,   15,   15,   15,   15,   15,   15,   15,   23,   23,   23,   23,   23,   23,   23,   23,   31,   31,   31,   31,   31,   31,   31,   31,   39,   39,   39,   39,   39,   39,   39,   39,   47,   47,   47,   47,   47,   47,   47,   47,   55,   55,   55,   55,   55,   55,   55,   55,   63,   63,   63,   63,   63,   63,   63,   63]
// CHECK: sizes = [3]
// CHECK-NEXT: [-3,  -2,  -1]
// CHECK: sizes = [3, 64]
// CHECK-NEXT: {{^\[\[}}-4,   2,   8,   14,   -1,   -9,   -10,   -4,   2,   8,   14,   -1,   -9,   -10,   -4,   2,   8,   14,   -1,   -9,   -10,   -4,   2,   8,   14,   -1,   -9,   -10,   -4,   2,   8,   14,   -1,   -9,   -10,   -4,   2,   8,   14,   -1,   -9,   -10,   -4,   2,   8,   14,   -1,   -9,   -10,   -4,   2,   8,   14,   -1,   -9,   -10,   -4,   2,   8,   14,   -1,   -12,   -15,   -10]
// CHECK-NEXT: {{^}} [2,   8,   14,   -1,   -9,   -10,   -4,   2,   8,   14,   -1,   -9,   -10,   -4,   2,   8,   14,   -1,   -9,   -10,   -4,   2,   8,   14,   -1,   -9,   -10,   -4,   2,   8,   14,   -1,   -9,   -10,   -4,   2,   8,   14,   -1,   -9,   -10,   -4,   2,   8,   14,   -1,   -9,   -10,   -4,   2,   8,   14,   -1,   -9,   -10,   -4,   2,   8,   14,   -1,   -9,   -13,   -9,   -4]
// CHECK-NEXT: {{^}} [8,   14,   -1,   -9,   -10,   -4,   2,   8,   14,   -1,   -9,   -10,   -4,   2,   8,   14,   -1,   -9,   -10,   -4,   2,   8,   14,   -1,   -9,   -10,   -4,   2,   8,   14,   -1,   -9,   -10,   -4,   2,   8,   14,   -1,   -9,   -10,   -4,   2,   8,   14,   -1,   -9,   -10,   -4,   2,   8,   14,   -1,   -9,   -10,   -4,   2,   8,   14,   -1,   -9,   -10,   -7,   -3,   2]
