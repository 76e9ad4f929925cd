// RUN: onebit-opt %s --split-input-file | FileCheck %s
// Round trip through the generic form must give the same module.
// RUN: onebit-opt %s --split-input-file --mlir-print-op-generic | onebit-opt --split-input-file | FileCheck %s

// CHECK-LABEL: func.func @linear_2d
// CHECK-SAME: (%[[X:.*]]: tensor<4x128xf32>, %[[S:.*]]: tensor<64x4xi32>, %[[G:.*]]: tensor<128xf32>, %[[H:.*]]: tensor<64xf32>)
// CHECK: %[[Y:.*]] = onebit.binary_linear %[[X]], %[[S]], %[[G]], %[[H]] layout <word_bits = 32, bit_order = lsb_first, negative = 1> : (tensor<4x128xf32>, tensor<64x4xi32>, tensor<128xf32>, tensor<64xf32>) -> tensor<4x64xf32>
// CHECK: return %[[Y]]
func.func @linear_2d(%x: tensor<4x128xf32>, %s: tensor<64x4xi32>, %g: tensor<128xf32>, %h: tensor<64xf32>) -> tensor<4x64xf32> {
  %y = onebit.binary_linear %x, %s, %g, %h layout <word_bits = 32, bit_order = lsb_first, negative = 1>
      : (tensor<4x128xf32>, tensor<64x4xi32>, tensor<128xf32>, tensor<64xf32>) -> tensor<4x64xf32>
  return %y : tensor<4x64xf32>
}

// -----

// Leading batch dims (static and dynamic), post-norm, bias, f16 activations
// with f32 value vectors, K not a multiple of 32.
// CHECK-LABEL: func.func @linear_batched_norm_bias
// CHECK: onebit.binary_linear %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} bias %{{.*}} layout <word_bits = 32, bit_order = lsb_first, negative = 1> norm_eps = 1.000000e-05 : (tensor<2x?x100xf16>, tensor<63x4xi32>, tensor<100xf32>, tensor<63xf32>, tensor<63xf16>) -> tensor<2x?x63xf16>
func.func @linear_batched_norm_bias(%x: tensor<2x?x100xf16>, %s: tensor<63x4xi32>, %g: tensor<100xf32>, %h: tensor<63xf32>, %b: tensor<63xf16>) -> tensor<2x?x63xf16> {
  %y = onebit.binary_linear %x, %s, %g, %h bias %b layout <word_bits = 32, bit_order = lsb_first, negative = 1> norm_eps = 1.0e-05
      : (tensor<2x?x100xf16>, tensor<63x4xi32>, tensor<100xf32>, tensor<63xf32>, tensor<63xf16>) -> tensor<2x?x63xf16>
  return %y : tensor<2x?x63xf16>
}

// -----

// A non-canonical layout (the reference byte packing, MSB-first variant).
// CHECK-LABEL: func.func @linear_bytes
// CHECK: layout <word_bits = 8, bit_order = msb_first, negative = 0>
func.func @linear_bytes(%x: tensor<3x20xf32>, %s: tensor<5x3xi8>, %g: tensor<20xf16>, %h: tensor<5xf16>) -> tensor<3x5xf32> {
  %y = onebit.binary_linear %x, %s, %g, %h layout <word_bits = 8, bit_order = msb_first, negative = 0>
      : (tensor<3x20xf32>, tensor<5x3xi8>, tensor<20xf16>, tensor<5xf16>) -> tensor<3x5xf32>
  return %y : tensor<3x5xf32>
}

// -----

// CHECK-LABEL: func.func @pack_unpack
// CHECK: %[[P:.*]] = onebit.pack_signs %{{.*}} layout <word_bits = 32, bit_order = lsb_first, negative = 1> : tensor<7x33xf32> -> tensor<7x2xi32>
// CHECK: %[[U:.*]] = onebit.unpack_signs %[[P]] layout <word_bits = 32, bit_order = lsb_first, negative = 1> : tensor<7x2xi32> -> tensor<7x33xf16>
func.func @pack_unpack(%w: tensor<7x33xf32>) -> tensor<7x33xf16> {
  %p = onebit.pack_signs %w layout <word_bits = 32, bit_order = lsb_first, negative = 1> : tensor<7x33xf32> -> tensor<7x2xi32>
  %u = onebit.unpack_signs %p layout <word_bits = 32, bit_order = lsb_first, negative = 1> : tensor<7x2xi32> -> tensor<7x33xf16>
  return %u : tensor<7x33xf16>
}

// -----

// The layout attribute on its own, fully qualified.
// CHECK-LABEL: func.func @attr
// CHECK: onebit.layout = #onebit.packing<word_bits = 64, bit_order = lsb_first, negative = 1>
func.func @attr() attributes {onebit.layout = #onebit.packing<word_bits = 64, bit_order = lsb_first, negative = 1>} {
  return
}

// -----

// CHECK-LABEL: func.func @train_layer
// CHECK: onebit.binary_linear_train %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} bias %{{.*}} norm_eps = 1.000000e-05 : (tensor<2x16x128xf32>, tensor<64x128xf32>, tensor<128xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<2x16x64xf32>
// CHECK: onebit.binary_linear_train %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x128xf64>, tensor<64x128xf64>, tensor<128xf64>, tensor<64xf64>) -> tensor<?x64xf64>
func.func @train_layer(%x: tensor<2x16x128xf32>, %w: tensor<64x128xf32>, %g: tensor<128xf32>, %h: tensor<64xf32>, %b: tensor<64xf32>,
                       %xd: tensor<?x128xf64>, %wd: tensor<64x128xf64>, %gd: tensor<128xf64>, %hd: tensor<64xf64>) -> (tensor<2x16x64xf32>, tensor<?x64xf64>) {
  %y = onebit.binary_linear_train %x, %w, %g, %h bias %b norm_eps = 1.0e-05 : (tensor<2x16x128xf32>, tensor<64x128xf32>, tensor<128xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<2x16x64xf32>
  %z = onebit.binary_linear_train %xd, %wd, %gd, %hd : (tensor<?x128xf64>, tensor<64x128xf64>, tensor<128xf64>, tensor<64xf64>) -> tensor<?x64xf64>
  return %y, %z : tensor<2x16x64xf32>, tensor<?x64xf64>
}

// -----

// CHECK-LABEL: func.func @int8_linear
// CHECK: onebit.int8_linear %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x?x576xf32>, tensor<33x576xi8>, tensor<33xf32>) -> tensor<2x?x33xf32>
// CHECK: onebit.int8_linear %{{.*}}, %{{.*}}, %{{.*}} bias %{{.*}} : (tensor<576xf16>, tensor<33x576xi8>, tensor<33xf32>, tensor<33xf16>) -> tensor<33xf16>
func.func @int8_linear(%x: tensor<2x?x576xf32>, %xh: tensor<576xf16>, %w: tensor<33x576xi8>, %s: tensor<33xf32>, %b: tensor<33xf16>) -> (tensor<2x?x33xf32>, tensor<33xf16>) {
  %y = onebit.int8_linear %x, %w, %s : (tensor<2x?x576xf32>, tensor<33x576xi8>, tensor<33xf32>) -> tensor<2x?x33xf32>
  %z = onebit.int8_linear %xh, %w, %s bias %b : (tensor<576xf16>, tensor<33x576xi8>, tensor<33xf32>, tensor<33xf16>) -> tensor<33xf16>
  return %y, %z : tensor<2x?x33xf32>, tensor<33xf16>
}
