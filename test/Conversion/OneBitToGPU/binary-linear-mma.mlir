// onebit-gpu-binary-linear-kernels picks the kernel by the activations' row
// count M: from mma-min-rows (9) on the tensor-core kernel (`_mma`:
// nvgpu.mma.sync m16n8k16, 4 warps over 128 columns and 16 or 32 rows;
// K = 100 fits one K tile: 7 k16 steps x 4 n8 tiles = 28 mma.sync),
// below it the sign-flip kernel (`_gemv`); a dynamic M gets both, chosen on
// the host by M >= 9. tensor-cores=false keeps the sign-flip kernel only.
// RUN: onebit-opt %s --split-input-file --convert-onebit-to-gpu --onebit-gpu-binary-linear-kernels | FileCheck %s
// RUN: onebit-opt %s --split-input-file --convert-onebit-to-gpu --onebit-gpu-binary-linear-kernels="tensor-cores=false" | FileCheck %s --check-prefix=NOMMA
// RUN: onebit-opt %s --split-input-file --convert-onebit-to-gpu --onebit-gpu-binary-linear-kernels="mma-min-rows=17" | FileCheck %s --check-prefix=MIN17
// RUN: not onebit-opt %s --split-input-file --convert-onebit-to-gpu --onebit-gpu-binary-linear-kernels="mma-min-rows=0" 2>&1 | FileCheck %s --check-prefix=BAD
// BAD: onebit-gpu-binary-linear-kernels: mma-min-rows must be at least 1, got 0

// CHECK-LABEL: func.func @rows16
// CHECK-NOT: arith.cmpi uge
// CHECK: gpu.launch blocks({{.*}}) in (%{{.*}} = %c1{{.*}}, %{{.*}}, %{{.*}} = %c1{{.*}}) threads({{.*}}) in (%{{.*}} = %c128{{.*}}, {{.*}}) module(@binary_linear_0_mma) function(@binary_linear_0_mma) workgroup(%{{.*}} : memref<1088xi32, #gpu.address_space<workgroup>>)
// CHECK-COUNT-28: nvgpu.mma.sync({{.*}}) {mmaShape = [16, 8, 16]} : (vector<4x2xf16>, vector<2x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>
// CHECK-NOT: nvgpu.mma.sync
// CHECK-NOT: _gemv
// CHECK: return
// NOMMA-LABEL: func.func @rows16
// NOMMA-NOT: nvgpu.mma.sync
// NOMMA: module(@binary_linear_0_gemv)
// MIN17-LABEL: func.func @rows16
// MIN17-NOT: nvgpu.mma.sync
// MIN17: module(@binary_linear_0_gemv)
func.func @rows16(%x: tensor<16x100xf16>, %s: tensor<70x4xi32>, %g: tensor<100xf16>,
                  %h: tensor<70xf16>) -> tensor<16x70xf16> {
  %y = onebit.binary_linear %x, %s, %g, %h
         layout <word_bits = 32, bit_order = lsb_first, negative = 1>
         : (tensor<16x100xf16>, tensor<70x4xi32>, tensor<100xf16>, tensor<70xf16>) -> tensor<16x70xf16>
  return %y : tensor<16x70xf16>
}

// -----

// CHECK-LABEL: func.func @rows8
// CHECK-NOT: nvgpu.mma.sync
// CHECK: module(@binary_linear_0_gemv)
// CHECK: return
func.func @rows8(%x: tensor<8x100xf32>, %s: tensor<70x4xi32>, %g: tensor<100xf32>,
                 %h: tensor<70xf32>) -> tensor<8x70xf32> {
  %y = onebit.binary_linear %x, %s, %g, %h
         layout <word_bits = 32, bit_order = lsb_first, negative = 1>
         : (tensor<8x100xf32>, tensor<70x4xi32>, tensor<100xf32>, tensor<70xf32>) -> tensor<8x70xf32>
  return %y : tensor<8x70xf32>
}

// -----

// CHECK-LABEL: func.func @dynamic_rows
// CHECK: %[[M:.*]] = memref.dim %{{.*}}, %c0{{.*}} : memref<?x300xf32>
// CHECK: %[[MANY:.*]] = arith.cmpi uge, %[[M]], %c9{{.*}} : index
// CHECK: scf.if %[[MANY]] {
// CHECK: module(@binary_linear_0_mma) function(@binary_linear_0_mma) workgroup(%{{.*}} : memref<2176xi32, #gpu.address_space<workgroup>>)
// CHECK-COUNT-64: nvgpu.mma.sync
// CHECK: } else {
// CHECK: module(@binary_linear_0_gemv)
// CHECK: module(@binary_linear_0_norm)
// MIN17-LABEL: func.func @dynamic_rows
// MIN17: arith.cmpi uge, %{{.*}}, %c17{{.*}} : index
// NOMMA-LABEL: func.func @dynamic_rows
// NOMMA-NOT: scf.if
// NOMMA-NOT: nvgpu.mma.sync
// NOMMA: module(@binary_linear_0_gemv)
func.func @dynamic_rows(%x: tensor<?x300xf32>, %s: tensor<130x10xi32>, %g: tensor<300xf32>,
                        %h: tensor<130xf32>, %b: tensor<130xf32>) -> tensor<?x130xf32> {
  %y = onebit.binary_linear %x, %s, %g, %h bias %b
         layout <word_bits = 32, bit_order = lsb_first, negative = 1> norm_eps = 1.0e-05
         : (tensor<?x300xf32>, tensor<130x10xi32>, tensor<300xf32>, tensor<130xf32>, tensor<130xf32>) -> tensor<?x130xf32>
  return %y : tensor<?x130xf32>
}
