// A model with dynamic axes: compiled code takes the shape from the input.
func.func @main(%x: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %0 = arith.negf %x : tensor<?x?xf32>
  return %0 : tensor<?x?xf32>
}
