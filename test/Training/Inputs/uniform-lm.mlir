// A language model with 4 tokens and uniform logits (all zero), whatever the
// input: perplexity is exactly 4 and greedy decoding picks token 0. Token ids
// have a dynamic shape, as in GGUF imports.
func.func @main(%ids: tensor<?x?xi64>) -> tensor<?x?x4xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %b = tensor.dim %ids, %c0 : tensor<?x?xi64>
  %s = tensor.dim %ids, %c1 : tensor<?x?xi64>
  %e = tensor.empty(%b, %s) : tensor<?x?x4xf32>
  %z = arith.constant 0.0 : f32
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<?x?x4xf32>) -> tensor<?x?x4xf32>
  return %f : tensor<?x?x4xf32>
}
