// RUN: onebit-opt %s --convert-onebit-to-gpu --split-input-file --verify-diagnostics
// RUN: not onebit-opt %S/binary-linear.mlir --convert-onebit-to-gpu --onebit-gpu-binary-linear-kernels="m-tile=16 tile-words=64" 2>&1 | FileCheck %s --check-prefix=SMEM
// SMEM: exceed 48 KiB of static workgroup memory

func.func @msb_first(%x: tensor<2x64xf32>, %s: tensor<16x2xi32>, %g: tensor<64xf32>,
                     %h: tensor<16xf32>) -> tensor<2x16xf32> {
  // expected-error @+1 {{the GPU kernel reads only the canonical sign layout}}
  %y = onebit.binary_linear %x, %s, %g, %h
         layout <word_bits = 32, bit_order = msb_first, negative = 1>
         : (tensor<2x64xf32>, tensor<16x2xi32>, tensor<64xf32>, tensor<16xf32>) -> tensor<2x16xf32>
  return %y : tensor<2x16xf32>
}

// -----

func.func @bytes(%x: tensor<2x64xf32>, %s: tensor<16x8xi8>, %g: tensor<64xf32>,
                 %h: tensor<16xf32>) -> tensor<2x16xf32> {
  // expected-error @+1 {{the GPU kernel}}
  %y = onebit.binary_linear %x, %s, %g, %h
         layout <word_bits = 8, bit_order = lsb_first, negative = 1>
         : (tensor<2x64xf32>, tensor<16x8xi8>, tensor<64xf32>, tensor<16xf32>) -> tensor<2x16xf32>
  return %y : tensor<2x16xf32>
}
