// Unsigned integers (signless iN marked onebit.unsigned) and bf16 crossing
// the runner boundary both ways: each result is its argument plus one (the
// unsigned ones wrap around at their maximum) and bf16 also widened to f32.
func.func @main(%a: tensor<3xi8> {onebit.unsigned, onebit.name = "a"},
                %b: tensor<3xi16> {onebit.unsigned, onebit.name = "b"},
                %c: tensor<3xi32> {onebit.unsigned, onebit.name = "c"},
                %d: tensor<3xi64> {onebit.unsigned, onebit.name = "d"},
                %e: tensor<3xbf16> {onebit.name = "e"})
    -> (tensor<3xi8> {onebit.unsigned}, tensor<3xi16> {onebit.unsigned},
        tensor<3xi32> {onebit.unsigned}, tensor<3xi64> {onebit.unsigned},
        tensor<3xbf16>, tensor<3xf32>) {
  %one8 = arith.constant dense<1> : tensor<3xi8>
  %one16 = arith.constant dense<1> : tensor<3xi16>
  %one32 = arith.constant dense<1> : tensor<3xi32>
  %one64 = arith.constant dense<1> : tensor<3xi64>
  %onebf = arith.constant dense<1.0> : tensor<3xbf16>
  %ra = arith.addi %a, %one8 : tensor<3xi8>
  %rb = arith.addi %b, %one16 : tensor<3xi16>
  %rc = arith.addi %c, %one32 : tensor<3xi32>
  %rd = arith.addi %d, %one64 : tensor<3xi64>
  %re = arith.addf %e, %onebf : tensor<3xbf16>
  %rf = arith.extf %e : tensor<3xbf16> to tensor<3xf32>
  return %ra, %rb, %rc, %rd, %re, %rf
      : tensor<3xi8>, tensor<3xi16>, tensor<3xi32>, tensor<3xi64>,
        tensor<3xbf16>, tensor<3xf32>
}
