// @f calls @helper; @g holds an op of a dialect no onebit tool registers, so
// reading @g's body fails; @h refers to @g by an attribute only. Written as bytecode with --allow-unregistered-dialect.
module {
  func.func private @helper(%a: tensor<4xf32>) -> tensor<4xf32> {
    %0 = arith.addf %a, %a : tensor<4xf32>
    return %0 : tensor<4xf32>
  }
  func.func @f(%a: tensor<4xf32>) -> tensor<4xf32> {
    %0 = func.call @helper(%a) : (tensor<4xf32>) -> tensor<4xf32>
    return %0 : tensor<4xf32>
  }
  func.func @h(%a: tensor<4xf32>) -> tensor<4xf32> attributes {onebit.uses = @g} {
    return %a : tensor<4xf32>
  }
  func.func @g(%a: tensor<4xf32>) -> tensor<4xf32> {
    %0 = "foo.bar"(%a) : (tensor<4xf32>) -> tensor<4xf32>
    return %0 : tensor<4xf32>
  }
}
