// Every verifier error of the onebit dialect, one case each.
// RUN: onebit-opt %s --split-input-file --verify-diagnostics

func.func @input_rank0(%x: tensor<f32>, %s: tensor<4x1xi32>, %g: tensor<8xf32>, %h: tensor<4xf32>) {
  // expected-error @+1 {{input must have at least one dimension (the features)}}
  %y = onebit.binary_linear %x, %s, %g, %h layout <word_bits = 32, bit_order = lsb_first, negative = 1> : (tensor<f32>, tensor<4x1xi32>, tensor<8xf32>, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @g_dynamic(%x: tensor<2x8xf32>, %s: tensor<4x1xi32>, %g: tensor<?xf32>, %h: tensor<4xf32>) {
  // expected-error @+1 {{g must have a static length (the input features)}}
  %y = onebit.binary_linear %x, %s, %g, %h layout <word_bits = 32, bit_order = lsb_first, negative = 1> : (tensor<2x8xf32>, tensor<4x1xi32>, tensor<?xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @h_dynamic(%x: tensor<2x8xf32>, %s: tensor<4x1xi32>, %g: tensor<8xf32>, %h: tensor<?xf32>) {
  // expected-error @+1 {{h must have a static length (the output features)}}
  %y = onebit.binary_linear %x, %s, %g, %h layout <word_bits = 32, bit_order = lsb_first, negative = 1> : (tensor<2x8xf32>, tensor<4x1xi32>, tensor<8xf32>, tensor<?xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @g_vs_input(%x: tensor<2x128xf32>, %s: tensor<4x3xi32>, %g: tensor<96xf32>, %h: tensor<4xf32>) {
  // expected-error @+1 {{g has 96 elements but the input feature dimension is 128}}
  %y = onebit.binary_linear %x, %s, %g, %h layout <word_bits = 32, bit_order = lsb_first, negative = 1> : (tensor<2x128xf32>, tensor<4x3xi32>, tensor<96xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @word_width(%x: tensor<2x8xf32>, %s: tensor<4x1xi8>, %g: tensor<8xf32>, %h: tensor<4xf32>) {
  // expected-error @+1 {{signs are stored in i8 words but the layout has word_bits = 32}}
  %y = onebit.binary_linear %x, %s, %g, %h layout <word_bits = 32, bit_order = lsb_first, negative = 1> : (tensor<2x8xf32>, tensor<4x1xi8>, tensor<8xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @signs_dynamic(%x: tensor<2x8xf32>, %s: tensor<?x1xi32>, %g: tensor<8xf32>, %h: tensor<4xf32>) {
  // expected-error @+1 {{signs must have a static shape, got 'tensor<?x1xi32>'}}
  %y = onebit.binary_linear %x, %s, %g, %h layout <word_bits = 32, bit_order = lsb_first, negative = 1> : (tensor<2x8xf32>, tensor<?x1xi32>, tensor<8xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @words_per_row(%x: tensor<2x100xf32>, %s: tensor<4x3xi32>, %g: tensor<100xf32>, %h: tensor<4xf32>) {
  // expected-error @+1 {{signs have 3 words per row but 100 columns need 4 words of 32 bits}}
  %y = onebit.binary_linear %x, %s, %g, %h layout <word_bits = 32, bit_order = lsb_first, negative = 1> : (tensor<2x100xf32>, tensor<4x3xi32>, tensor<100xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @h_vs_rows(%x: tensor<2x8xf32>, %s: tensor<64x1xi32>, %g: tensor<8xf32>, %h: tensor<63xf32>) {
  // expected-error @+1 {{h has 63 elements but signs have 64 rows (output features)}}
  %y = onebit.binary_linear %x, %s, %g, %h layout <word_bits = 32, bit_order = lsb_first, negative = 1> : (tensor<2x8xf32>, tensor<64x1xi32>, tensor<8xf32>, tensor<63xf32>) -> tensor<2x64xf32>
  return
}

// -----

func.func @bias_vs_rows(%x: tensor<2x8xf32>, %s: tensor<4x1xi32>, %g: tensor<8xf32>, %h: tensor<4xf32>, %b: tensor<5xf32>) {
  // expected-error @+1 {{bias has 5 elements but signs have 4 rows (output features)}}
  %y = onebit.binary_linear %x, %s, %g, %h bias %b layout <word_bits = 32, bit_order = lsb_first, negative = 1> : (tensor<2x8xf32>, tensor<4x1xi32>, tensor<8xf32>, tensor<4xf32>, tensor<5xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @result_elem(%x: tensor<2x8xf32>, %s: tensor<4x1xi32>, %g: tensor<8xf32>, %h: tensor<4xf32>) {
  // expected-error @+1 {{result element type 'f16' differs from the input element type 'f32'}}
  %y = onebit.binary_linear %x, %s, %g, %h layout <word_bits = 32, bit_order = lsb_first, negative = 1> : (tensor<2x8xf32>, tensor<4x1xi32>, tensor<8xf32>, tensor<4xf32>) -> tensor<2x4xf16>
  return
}

// -----

func.func @result_rank(%x: tensor<3x2x8xf32>, %s: tensor<4x1xi32>, %g: tensor<8xf32>, %h: tensor<4xf32>) {
  // expected-error @+1 {{result has rank 2 but the input has rank 3}}
  %y = onebit.binary_linear %x, %s, %g, %h layout <word_bits = 32, bit_order = lsb_first, negative = 1> : (tensor<3x2x8xf32>, tensor<4x1xi32>, tensor<8xf32>, tensor<4xf32>) -> tensor<6x4xf32>
  return
}

// -----

func.func @result_leading(%x: tensor<3x2x8xf32>, %s: tensor<4x1xi32>, %g: tensor<8xf32>, %h: tensor<4xf32>) {
  // expected-error @+1 {{result dimension 1 is 5 but the input dimension 1 is 2}}
  %y = onebit.binary_linear %x, %s, %g, %h layout <word_bits = 32, bit_order = lsb_first, negative = 1> : (tensor<3x2x8xf32>, tensor<4x1xi32>, tensor<8xf32>, tensor<4xf32>) -> tensor<3x5x4xf32>
  return
}

// -----

func.func @result_features(%x: tensor<2x8xf32>, %s: tensor<4x1xi32>, %g: tensor<8xf32>, %h: tensor<4xf32>) {
  // expected-error @+1 {{result feature dimension is 6 but signs have 4 rows (output features)}}
  %y = onebit.binary_linear %x, %s, %g, %h layout <word_bits = 32, bit_order = lsb_first, negative = 1> : (tensor<2x8xf32>, tensor<4x1xi32>, tensor<8xf32>, tensor<4xf32>) -> tensor<2x6xf32>
  return
}

// -----

func.func @result_features_dynamic(%x: tensor<2x8xf32>, %s: tensor<4x1xi32>, %g: tensor<8xf32>, %h: tensor<4xf32>) {
  // expected-error @+1 {{result feature dimension is dynamic but signs have 4 rows (output features)}}
  %y = onebit.binary_linear %x, %s, %g, %h layout <word_bits = 32, bit_order = lsb_first, negative = 1> : (tensor<2x8xf32>, tensor<4x1xi32>, tensor<8xf32>, tensor<4xf32>) -> tensor<2x?xf32>
  return
}

// -----

func.func @norm_eps(%x: tensor<2x8xf32>, %s: tensor<4x1xi32>, %g: tensor<8xf32>, %h: tensor<4xf32>) {
  // expected-error @+1 {{norm_eps must be positive, got 0}}
  %y = onebit.binary_linear %x, %s, %g, %h layout <word_bits = 32, bit_order = lsb_first, negative = 1> norm_eps = 0.0 : (tensor<2x8xf32>, tensor<4x1xi32>, tensor<8xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @input_type(%x: tensor<2x8xbf16>, %s: tensor<4x1xi32>, %g: tensor<8xf32>, %h: tensor<4xf32>) {
  // expected-error @+1 {{operand #0 must be ranked tensor of 16-bit float or 32-bit float values}}
  %y = onebit.binary_linear %x, %s, %g, %h layout <word_bits = 32, bit_order = lsb_first, negative = 1> : (tensor<2x8xbf16>, tensor<4x1xi32>, tensor<8xf32>, tensor<4xf32>) -> tensor<2x4xbf16>
  return
}

// -----

func.func @g_type(%x: tensor<2x8xf32>, %s: tensor<4x1xi32>, %g: tensor<8xi32>, %h: tensor<4xf32>) {
  // expected-error @+1 {{operand #2 must be 1D tensor of 16-bit float or 32-bit float values}}
  %y = onebit.binary_linear %x, %s, %g, %h layout <word_bits = 32, bit_order = lsb_first, negative = 1> : (tensor<2x8xf32>, tensor<4x1xi32>, tensor<8xi32>, tensor<4xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @signs_rank(%x: tensor<2x8xf32>, %s: tensor<4xi32>, %g: tensor<8xf32>, %h: tensor<4xf32>) {
  // expected-error @+1 {{operand #1 must be 2D tensor of 8-bit signless integer or 16-bit signless integer or 32-bit signless integer or 64-bit signless integer values}}
  %y = onebit.binary_linear %x, %s, %g, %h layout <word_bits = 32, bit_order = lsb_first, negative = 1> : (tensor<2x8xf32>, tensor<4xi32>, tensor<8xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  return
}

// -----

// expected-error @+1 {{word_bits must be 8, 16, 32 or 64, got 12}}
func.func @bad_word_bits() attributes {l = #onebit.packing<word_bits = 12, bit_order = lsb_first, negative = 1>}

// -----

// expected-error @+1 {{negative must be the bit value 0 or 1, got 2}}
func.func @bad_negative() attributes {l = #onebit.packing<word_bits = 32, bit_order = lsb_first, negative = 2>}

// -----

// expected-error @+2 {{expected one of [lsb_first, msb_first] for order of weights inside a word, got: middle}}
// expected-error @+1 {{failed to parse OneBit_PackingAttr parameter 'bitOrder'}}
func.func @bad_order() attributes {l = #onebit.packing<word_bits = 32, bit_order = middle, negative = 1>}

// -----

func.func @pack_width(%w: tensor<4x8xf32>) {
  // expected-error @+1 {{packed signs are stored in i32 words but the layout has word_bits = 8}}
  %p = onebit.pack_signs %w layout <word_bits = 8, bit_order = lsb_first, negative = 1> : tensor<4x8xf32> -> tensor<4x1xi32>
  return
}

// -----

func.func @pack_words(%w: tensor<4x33xf32>) {
  // expected-error @+1 {{packed signs have 1 words per row but 33 columns need 2 words of 32 bits}}
  %p = onebit.pack_signs %w layout <word_bits = 32, bit_order = lsb_first, negative = 1> : tensor<4x33xf32> -> tensor<4x1xi32>
  return
}

// -----

func.func @pack_rows(%w: tensor<4x8xf32>) {
  // expected-error @+1 {{weights have 4 rows but the packed signs have 5}}
  %p = onebit.pack_signs %w layout <word_bits = 32, bit_order = lsb_first, negative = 1> : tensor<4x8xf32> -> tensor<5x1xi32>
  return
}

// -----

func.func @pack_dynamic_result(%w: tensor<4x8xf32>) {
  // expected-error @+1 {{packed signs must have a static shape, got 'tensor<?x1xi32>'}}
  %p = onebit.pack_signs %w layout <word_bits = 32, bit_order = lsb_first, negative = 1> : tensor<4x8xf32> -> tensor<?x1xi32>
  return
}

// -----

func.func @unpack_dynamic_k(%s: tensor<4x1xi32>) {
  // expected-error @+1 {{result must have a static column count (K)}}
  %u = onebit.unpack_signs %s layout <word_bits = 32, bit_order = lsb_first, negative = 1> : tensor<4x1xi32> -> tensor<4x?xf32>
  return
}

// -----

func.func @unpack_rows(%s: tensor<4x1xi32>) {
  // expected-error @+1 {{result has 3 rows but the packed signs have 4}}
  %u = onebit.unpack_signs %s layout <word_bits = 32, bit_order = lsb_first, negative = 1> : tensor<4x1xi32> -> tensor<3x8xf32>
  return
}

// -----

func.func @unpack_words(%s: tensor<4x1xi32>) {
  // expected-error @+1 {{signs have 1 words per row but 40 columns need 2 words of 32 bits}}
  %u = onebit.unpack_signs %s layout <word_bits = 32, bit_order = lsb_first, negative = 1> : tensor<4x1xi32> -> tensor<4x40xf32>
  return
}

// -----

func.func @unpack_width(%s: tensor<4x1xi16>) {
  // expected-error @+1 {{signs are stored in i16 words but the layout has word_bits = 32}}
  %u = onebit.unpack_signs %s layout <word_bits = 32, bit_order = lsb_first, negative = 1> : tensor<4x1xi16> -> tensor<4x8xf32>
  return
}

// -----

func.func @train_g(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>, %g: tensor<7xf32>, %h: tensor<4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{g has 7 elements but the weight has 8 columns (input features)}}
  %y = onebit.binary_linear_train %x, %w, %g, %h : (tensor<2x8xf32>, tensor<4x8xf32>, tensor<7xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

func.func @train_types(%x: tensor<2x8xf32>, %w: tensor<4x8xf16>, %g: tensor<8xf32>, %h: tensor<4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{operands must share the input element type 'f32', got 'tensor<4x8xf16>'}}
  %y = onebit.binary_linear_train %x, %w, %g, %h : (tensor<2x8xf32>, tensor<4x8xf16>, tensor<8xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

func.func @train_out(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>, %g: tensor<8xf32>, %h: tensor<4xf32>) -> tensor<2x5xf32> {
  // expected-error @+1 {{result feature dimension is 5 but the weight has 4 rows (output features)}}
  %y = onebit.binary_linear_train %x, %w, %g, %h : (tensor<2x8xf32>, tensor<4x8xf32>, tensor<8xf32>, tensor<4xf32>) -> tensor<2x5xf32>
  return %y : tensor<2x5xf32>
}

// -----

func.func @train_eps(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>, %g: tensor<8xf32>, %h: tensor<4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{norm_eps must be positive, got 0}}
  %y = onebit.binary_linear_train %x, %w, %g, %h norm_eps = 0.0 : (tensor<2x8xf32>, tensor<4x8xf32>, tensor<8xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

func.func @int8_input_rank0(%x: tensor<f32>, %w: tensor<4x8xi8>, %s: tensor<4xf32>) {
  // expected-error @+1 {{input must have at least one dimension (the features)}}
  %y = onebit.int8_linear %x, %w, %s : (tensor<f32>, tensor<4x8xi8>, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @int8_weights_dynamic(%x: tensor<2x8xf32>, %w: tensor<?x8xi8>, %s: tensor<4xf32>) {
  // expected-error @+1 {{weights must have a static N x K shape}}
  %y = onebit.int8_linear %x, %w, %s : (tensor<2x8xf32>, tensor<?x8xi8>, tensor<4xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @int8_k_mismatch(%x: tensor<2x9xf32>, %w: tensor<4x8xi8>, %s: tensor<4xf32>) {
  // expected-error @+1 {{weights have 8 columns but the input feature dimension is 9}}
  %y = onebit.int8_linear %x, %w, %s : (tensor<2x9xf32>, tensor<4x8xi8>, tensor<4xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @int8_scales(%x: tensor<2x8xf32>, %w: tensor<4x8xi8>, %s: tensor<5xf32>) {
  // expected-error @+1 {{scales have 5 elements but weights have 4 rows (output features)}}
  %y = onebit.int8_linear %x, %w, %s : (tensor<2x8xf32>, tensor<4x8xi8>, tensor<5xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @int8_bias(%x: tensor<2x8xf32>, %w: tensor<4x8xi8>, %s: tensor<4xf32>, %b: tensor<3xf32>) {
  // expected-error @+1 {{bias has 3 elements but weights have 4 rows (output features)}}
  %y = onebit.int8_linear %x, %w, %s bias %b : (tensor<2x8xf32>, tensor<4x8xi8>, tensor<4xf32>, tensor<3xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @int8_result_type(%x: tensor<2x8xf32>, %w: tensor<4x8xi8>, %s: tensor<4xf32>) {
  // expected-error @+1 {{result element type 'f16' differs from the input element type 'f32'}}
  %y = onebit.int8_linear %x, %w, %s : (tensor<2x8xf32>, tensor<4x8xi8>, tensor<4xf32>) -> tensor<2x4xf16>
  return
}

// -----

func.func @int8_result_rank(%x: tensor<2x8xf32>, %w: tensor<4x8xi8>, %s: tensor<4xf32>) {
  // expected-error @+1 {{result has rank 3 but the input has rank 2}}
  %y = onebit.int8_linear %x, %w, %s : (tensor<2x8xf32>, tensor<4x8xi8>, tensor<4xf32>) -> tensor<1x2x4xf32>
  return
}

// -----

func.func @int8_result_lead(%x: tensor<2x8xf32>, %w: tensor<4x8xi8>, %s: tensor<4xf32>) {
  // expected-error @+1 {{result dimension 0 is 3 but the input dimension 0 is 2}}
  %y = onebit.int8_linear %x, %w, %s : (tensor<2x8xf32>, tensor<4x8xi8>, tensor<4xf32>) -> tensor<3x4xf32>
  return
}

// -----

func.func @int8_result_n(%x: tensor<2x8xf32>, %w: tensor<4x8xi8>, %s: tensor<4xf32>) {
  // expected-error @+1 {{result feature dimension is 5 but weights have 4 rows (output features)}}
  %y = onebit.int8_linear %x, %w, %s : (tensor<2x8xf32>, tensor<4x8xi8>, tensor<4xf32>) -> tensor<2x5xf32>
  return
}

// -----

func.func @int8_weight_type(%x: tensor<2x8xf32>, %w: tensor<4x8xi16>, %s: tensor<4xf32>) {
  // expected-error @+1 {{operand #1 must be 2D tensor of 8-bit signless integer values}}
  %y = onebit.int8_linear %x, %w, %s : (tensor<2x8xf32>, tensor<4x8xi16>, tensor<4xf32>) -> tensor<2x4xf32>
  return
}
