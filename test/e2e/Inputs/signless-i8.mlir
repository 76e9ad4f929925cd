// A signless i8 argument without onebit.unsigned: it takes int8 arrays.
func.func @main(%x: tensor<3x4x5xi8>) -> tensor<3x4x5xi8> {
  return %x : tensor<3x4x5xi8>
}
