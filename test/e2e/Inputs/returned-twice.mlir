// A private function returns one tensor twice; the caller uses both and
// returns one (test/e2e/returned-twice.test: it was freed twice).
func.func private @f(%a: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %0 = arith.addf %a, %a : tensor<4xf32>
  return %0, %0 : tensor<4xf32>, tensor<4xf32>
}
func.func @main(%a: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %x, %y = call @f(%a) : (tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>)
  %z = arith.addf %x, %y : tensor<4xf32>
  return %z, %x : tensor<4xf32>, tensor<4xf32>
}
