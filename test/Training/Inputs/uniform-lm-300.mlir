// A language model with 300 tokens (more than bytes) and uniform logits,
// carrying no tokenizer: byte ids would be read as other tokens of it.
func.func @main(%ids: tensor<?x?xi64> {onebit.index_bound = 300 : i64, onebit.index_min = 0 : i64}) -> tensor<?x?x300xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %b = tensor.dim %ids, %c0 : tensor<?x?xi64>
  %s = tensor.dim %ids, %c1 : tensor<?x?xi64>
  %e = tensor.empty(%b, %s) : tensor<?x?x300xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<?x?x300xf32>) -> tensor<?x?x300xf32>
  return %f : tensor<?x?x300xf32>
}
