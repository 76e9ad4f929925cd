// onebit.unsigned on a float argument, which cannot be unsigned.
func.func @main(%x: tensor<3xf32> {onebit.unsigned}) {
  return
}
