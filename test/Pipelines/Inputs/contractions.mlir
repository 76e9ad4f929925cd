// Dense contractions for the tiled GPU kernel (onebit-gpu-contraction-kernels):
// a matmul (37 x 50 x 23, no dimension a multiple of the tile), a batch
// matmul, a grouped-query attention product with a dynamic row count whose
// keys are broadcast over the 3 query heads of each KV head, and a product
// of two transposed operands accumulated into the first result.
#q = affine_map<(b, h, g, s, t, d) -> (b, h, g, s, d)>
#k = affine_map<(b, h, g, s, t, d) -> (b, t, h, d)>
#o = affine_map<(b, h, g, s, t, d) -> (b, h, g, s, t)>
#at = affine_map<(m, n, k) -> (k, m)>
#bt = affine_map<(m, n, k) -> (n, k)>
#c = affine_map<(m, n, k) -> (m, n)>
func.func @main(%a: tensor<37x23xf32>, %b: tensor<23x50xf32>, %x: tensor<3x20x9xf32>,
                %y: tensor<3x9x70xf32>, %q: tensor<1x2x3x?x8xf32>, %kc: tensor<1x40x2x8xf32>,
                %at: tensor<23x37xf32>, %bt: tensor<50x23xf32>)
    -> (tensor<37x50xf32>, tensor<3x20x70xf32>, tensor<1x2x3x?x40xf32>, tensor<37x50xf32>) {
  %z = arith.constant 0.0 : f32
  %e0 = tensor.empty() : tensor<37x50xf32>
  %f0 = linalg.fill ins(%z : f32) outs(%e0 : tensor<37x50xf32>) -> tensor<37x50xf32>
  %r0 = linalg.matmul ins(%a, %b : tensor<37x23xf32>, tensor<23x50xf32>) outs(%f0 : tensor<37x50xf32>) -> tensor<37x50xf32>
  %e1 = tensor.empty() : tensor<3x20x70xf32>
  %f1 = linalg.fill ins(%z : f32) outs(%e1 : tensor<3x20x70xf32>) -> tensor<3x20x70xf32>
  %r1 = linalg.batch_matmul ins(%x, %y : tensor<3x20x9xf32>, tensor<3x9x70xf32>) outs(%f1 : tensor<3x20x70xf32>) -> tensor<3x20x70xf32>
  %c3 = arith.constant 3 : index
  %s = tensor.dim %q, %c3 : tensor<1x2x3x?x8xf32>
  %e2 = tensor.empty(%s) : tensor<1x2x3x?x40xf32>
  %f2 = linalg.fill ins(%z : f32) outs(%e2 : tensor<1x2x3x?x40xf32>) -> tensor<1x2x3x?x40xf32>
  %r2 = linalg.generic {indexing_maps = [#q, #k, #o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %kc : tensor<1x2x3x?x8xf32>, tensor<1x40x2x8xf32>) outs(%f2 : tensor<1x2x3x?x40xf32>) {
  ^bb0(%u: f32, %v: f32, %acc: f32):
    %m = arith.mulf %u, %v : f32
    %sum = arith.addf %acc, %m : f32
    linalg.yield %sum : f32
  } -> tensor<1x2x3x?x40xf32>
  %r3 = linalg.generic {indexing_maps = [#at, #bt, #c], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%at, %bt : tensor<23x37xf32>, tensor<50x23xf32>) outs(%r0 : tensor<37x50xf32>) {
  ^bb0(%u: f32, %v: f32, %acc: f32):
    %m = arith.mulf %u, %v : f32
    %sum = arith.addf %acc, %m : f32
    linalg.yield %sum : f32
  } -> tensor<37x50xf32>
  return %r0, %r1, %r2, %r3 : tensor<37x50xf32>, tensor<3x20x70xf32>, tensor<1x2x3x?x40xf32>, tensor<37x50xf32>
}
