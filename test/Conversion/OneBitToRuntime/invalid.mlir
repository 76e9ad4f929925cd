// RUN: onebit-opt %s --convert-onebit-to-runtime --verify-diagnostics

func.func @bytes(%x: tensor<3x20xf32>, %s: tensor<5x3xi8>, %g: tensor<20xf32>, %h: tensor<5xf32>) -> tensor<3x5xf32> {
  // expected-error @+1 {{the CPU kernels read only the canonical sign layout #onebit.packing<word_bits = 32, bit_order = lsb_first, negative = 1>; repack the signs first}}
  %y = onebit.binary_linear %x, %s, %g, %h layout <word_bits = 8, bit_order = lsb_first, negative = 1>
      : (tensor<3x20xf32>, tensor<5x3xi8>, tensor<20xf32>, tensor<5xf32>) -> tensor<3x5xf32>
  return %y : tensor<3x5xf32>
}
