// A hand-written kernel in a tensor function: y[t] = x[t xor 1] by a warp
// shuffle over 64 threads (two warps). Only --device=gpu-emulation can run
// it; the CPU pipeline has no lowering for gpu.launch.
func.func @main(%x: tensor<64xf32>) -> tensor<64xf32> {
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %xb = bufferization.to_buffer %x read_only : tensor<64xf32> to memref<64xf32>
  %y = memref.alloc() : memref<64xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    %one = arith.constant 1 : i32
    %w32 = arith.constant 32 : i32
    %v = memref.load %xb[%tx] : memref<64xf32>
    %r, %ok = gpu.shuffle xor %v, %one, %w32 : f32
    memref.store %r, %y[%tx] : memref<64xf32>
    gpu.terminator
  }
  %t = bufferization.to_tensor %y restrict writable : memref<64xf32> to tensor<64xf32>
  return %t : tensor<64xf32>
}
