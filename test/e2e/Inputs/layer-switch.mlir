// A loop over three "layers" that picks each layer's weight with a switch
// over the arguments, as a rolled train step does: acc = 2 * acc + w_i, in
// order, so the result 8x + 4w0 + 2w1 + w2 tells which weight each
// iteration read (onebit-entry-arg-table turns the switch into a load of
// the argument table at i).
#map = affine_map<(d0) -> (d0)>
func.func @main(%x: tensor<4xf32>, %w0: tensor<4xf32>, %w1: tensor<4xf32>, %w2: tensor<4xf32>) -> tensor<4xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %two = arith.constant 2.0 : f32
  %r = scf.for %i = %c0 to %c3 step %c1 iter_args(%acc = %x) -> (tensor<4xf32>) {
    %w = scf.index_switch %i -> tensor<4xf32>
    case 1 {
      scf.yield %w1 : tensor<4xf32>
    }
    case 2 {
      scf.yield %w2 : tensor<4xf32>
    }
    default {
      scf.yield %w0 : tensor<4xf32>
    }
    %e = tensor.empty() : tensor<4xf32>
    %n = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel"]} ins(%acc, %w : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %m = arith.mulf %a, %two : f32
      %s = arith.addf %m, %b : f32
      linalg.yield %s : f32
    } -> tensor<4xf32>
    scf.yield %n : tensor<4xf32>
  }
  return %r : tensor<4xf32>
}
