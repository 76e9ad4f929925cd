//===- Passes.td - onebit conversion passes ----------------*- tablegen -*-===//
//
// Conversions out of the onebit dialect.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_CONVERSION_PASSES_TD
#define ONEBIT_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertOneBitToRuntime : Pass<"convert-onebit-to-runtime", "::mlir::ModuleOp"> {
  let summary = "Lower onebit.binary_linear and onebit.int8_linear to calls "
                "into the CPU kernel library (runtime/)";
  let description = [{
    Each `onebit.binary_linear` becomes a call of
    `onebit_binary_linear_f32(x, signs, g, h, bias, norm_eps, y)` on
    memrefs (declared with `llvm.emit_c_interface`, implemented in
    `runtime/lib/CpuKernels.cpp`): the activations are viewed as a 2-D
    `M x K` matrix, f16 operands are widened to f32 (and the result narrowed
    back), a missing bias is an empty vector and no post-norm is
    `norm_eps = 0`. The memrefs come from `bufferization.to_buffer` and the
    result from `bufferization.to_tensor restrict writable` on a fresh
    allocation, so one-shot bufferization composes with it. Only the
    canonical sign layout is supported; others are rejected with an error.

    Each `onebit.int8_linear` becomes, the same way, a call of
    `onebit_int8_linear_f32(x, weights, scales, bias, y)`.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::func::FuncDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def ConvertMatmulToRuntime : Pass<"convert-matmul-to-runtime", "::mlir::ModuleOp"> {
  let summary = "Lower dense f32 (batched) matmuls to calls of the runtime's "
                "BLAS-backed onebit_matmul_f32";
  let description = [{
    Every linalg op on tensors with two f32 inputs and one f32 init that is
    a contraction (`linalg::isaContractionOpInterface`: a mulf/addf body
    over projected-permutation maps) with exactly one reduction dimension
    becomes a call of `onebit_matmul_f32(A, B, C, beta)` (a private
    declaration with `llvm.emit_c_interface`, implemented in
    `runtime/lib/DenseMatmul.cpp`). This covers `linalg.matmul` (also with
    transposing `indexing_maps`), `linalg.batch_matmul` and equivalent
    `linalg.generic`s, e.g. the 4-D attention products
    `[b, h, m, k] x [b, h, k, n]` of the ONNX importer.

    The three operands are rank-4 strided memrefs
    `memref<?x?x?x?xf32, strided<[?, ?, ?, ?], offset: ?>>` viewing the
    operands' buffers as A `[B0, B1, M, K]`, B `[B0, B1, K, N]` and
    C `[B0, B1, M, N]` (`memref.reinterpret_cast` with the strides of the
    operand's own layout, so transposed operands cost no copy). M and N are
    the innermost (in the output) of the op's m and n dimensions; every
    other parallel dimension (true batch dimensions, and further m or n
    dimensions, e.g. the batch of a `[b, s, k] x [k, n]` product) is one of
    the at most two outer dimensions, with stride 0 in the operand that
    does not have it; missing outer dimensions have size 1. A third outer
    dimension (the outermost) becomes an `scf.for` around the call, one call
    per index with the views offset by its stride: the attention products
    `[b, kv, g, s, s2]` of the GGUF importer, whose keys and values are
    broadcast over the query group g, are such. Ops needing more than three
    outer dimensions or more than one reduction dimension are left alone, as
    are non-f32 ones.

    The result is computed as `C = A B + beta C` in a fresh buffer that
    becomes the result (`bufferization.to_tensor restrict writable`): when
    the init is a zero (`linalg.fill` of 0, a zero splat constant or
    `tensor.empty`) `beta = 0` and nothing is copied, otherwise the init is
    copied into the buffer and `beta = 1`, so accumulators are honoured.

    When one operand is the result of a *sign generic* over a rank-2 f32
    tensor W (one input, identity maps, body `select(cmpf olt %w, 0.0,
    -1.0, +1.0)`: the straight-through sign of the train step's latent
    weights, as `onebit-decompose-train-form` writes it), the call is
    `onebit_sign_matmul_f32(A, W, C, beta)` instead, on a view of W itself:
    the runtime packs sign(W) at 1 bit per weight and multiplies with the
    exact 1-bit kernels (`runtime/lib/SignMatmul.cpp`). A sign operand on the
    left is handled as `C^T = B^T sign(W)^T` through transposed views. The
    sign generic is then dead when nothing else reads it. `sign-kernel=false`
    keeps such contractions on `onebit_matmul_f32`.

    When the right operand is the result of an *extf generic* (one f16
    input, identity maps, all parallel, body `arith.extf`: how an f16 KV
    cache is read back), the call is `onebit_matmul_f32_f16b(A, B16, C,
    beta)` on a view of the f16 tensor itself, so the cache is read in place
    and widened in the kernel rather than copied to f32 first. The extf
    generic is then dead when nothing else reads it.

    `--onebit-cpu-pipeline=dense-matmul-to-runtime=false` (or
    `ONEBIT_DENSE_MATMUL=loops` in the tools' environment) leaves the pass
    out of the CPU pipeline, for comparisons with the naive-loop lowering.
  }];
  let options = [
    Option<"signKernel", "sign-kernel", "bool", /*default=*/"true",
           "Products with sign(W) of a sign generic call "
           "onebit_sign_matmul_f32 (1-bit kernels)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::func::FuncDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def ConvertOneBitToGPU : Pass<"convert-onebit-to-gpu", "::mlir::ModuleOp"> {
  let summary = "Lower onebit.binary_linear to calls of GPU kernel stubs "
                "(expanded by onebit-gpu-binary-linear-kernels)";
  let description = [{
    Each `onebit.binary_linear` becomes a call of a private declaration
    `@__onebit_gpu_binary_linear_<i>(x, signs, g, h[, bias], out[, tmp])` on
    memrefs, tagged `onebit.gpu_binary_linear` (K, N, norm_eps, the layer
    name). The memrefs come from `bufferization.to_buffer`; `out` (and the
    f32 pre-norm scratch `tmp` for f16 results) are fresh allocations and the
    result is `bufferization.to_tensor restrict writable`, so one-shot
    bufferization and the ownership-based deallocation (which does not accept
    GPU barriers) compose with it. onebit-gpu-binary-linear-kernels later
    replaces the calls with the kernels. Only the canonical sign layout and
    static K and N are supported.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::func::FuncDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def OneBitGpuBinaryLinearKernels
    : Pass<"onebit-gpu-binary-linear-kernels", "::mlir::ModuleOp"> {
  let summary = "Expand the binary-layer calls of convert-onebit-to-gpu into "
                "sign-flip gpu.launch kernels (scf/gpu/arith/math)";
  let description = [{
    The GEMV/GEMM kernel: a block of `warps` warps, one warp per output row
    n, `m-tile` activation rows per block. Per K tile of `tile-words` sign
    words, the block stages `x[m, k] * g[k]` in workgroup memory (transposed
    per 32-bit sign word and padded, so both the staging stores and the reads
    are conflict-free); each lane then reads packed sign words (coalesced
    across the warp) and flips the sign of the staged values by xor-ing the
    weight's sign bit into their f32 bit pattern: no multiplication per
    weight. A gpu.shuffle xor tree reduces the warp; lane 0 applies h (and
    the bias when there is no post-norm). With `norm_eps`, a second kernel
    (one block per row) normalises the row and adds the bias. Each lane
    loads 4 consecutive sign words at once (128-bit loads, tiles of 128
    words) where the row's word count is a multiple of 4 and the larger
    tile fits in 48 KiB (m-tile 1 or 2).
    Split-K: when the layer has fewer than `split-k-blocks` blocks along N
    (a GEMV with small N, which leaves SMs idle), K's tiles are split over
    up to that many blocks (grid z); each writes its partial sums to a
    scratch buffer and `..._splitk` adds them in order, applies h and the
    bias.

    With `tensor-cores` (sm_80 and newer; the default), a layer whose
    activations have at least `mma-min-rows` rows (prefill, the train step)
    gets the tensor-core kernel instead; a dynamic row count gets both
    kernels, chosen on the host at run time by M >= `mma-min-rows`
    (`..._mma`): blocks of 4 warps over 16 or 32 rows x 128 columns, A' =
    f16(x * g) staged in workgroup memory per 128 features, the signs
    expanded into +-1 f16 B fragments with bit operations, and
    `nvgpu.mma.sync` m16n8k16 with f32 accumulation; h and the bias in the
    epilogue. Its inputs are rounded to f16, so |x * g| must stay within
    f16 range (65504). Decode (M below the threshold) keeps the
    sign-flip kernel.
  }];
  let options = [
    Option<"warps", "warps", "int64_t", /*default=*/"4",
           "Warps (output rows) per block">,
    Option<"mTile", "m-tile", "int64_t", /*default=*/"4",
           "Activation rows per block (GEMM); static M = 1 uses 1">,
    Option<"tileWords", "tile-words", "int64_t", /*default=*/"64",
           "Sign words per K tile (a multiple of 32)">,
    Option<"tensorCores", "tensor-cores", "bool", /*default=*/"true",
           "Layers with many rows use the mma.sync kernel (needs sm_80+)">,
    Option<"mmaMinRows", "mma-min-rows", "int64_t", /*default=*/"9",
           "Row counts from this on use the mma.sync kernel (a dynamic "
           "one is tested at run time)">,
    Option<"splitKBlocks", "split-k-blocks", "int64_t", /*default=*/"256",
           "A sign-flip kernel with fewer blocks along N than this splits K "
           "over more blocks (grid z), each with at least one K tile, and "
           "a second kernel adds the partial sums; 0: never">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::nvgpu::NVGPUDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect"
  ];
}

def OneBitGpuHostMemory : Pass<"onebit-gpu-host-memory", "::mlir::ModuleOp"> {
  let summary = "Make host buffers visible to GPU kernels";
  let description = [{
    Runs after the GPU launches exist and before outlining. Outside
    `gpu.launch` bodies: `memref.alloc` becomes `gpu.alloc host_shared`
    (managed memory, readable by host code and kernels), `memref.dealloc`
    becomes `gpu.dealloc`, and every `memref.get_global` (constant weights)
    is followed by `gpu.host_register` so kernels can read it in place. The
    memref arguments of public functions (the caller's inputs) are
    registered on entry and unregistered before each return, except KV
    caches (`onebit.kv_cache`) and a train step's parameters and moments
    updated in place (`onebit.train_state`): the caller gives those in
    device memory, so host code must not access them (an error names the op
    that does).
    Bodies of `llvm.func` (onebit-gpu-resident-constants' constructor and
    destructor) are left alone.
  }];
  let dependentDialects = [
    "::mlir::func::FuncDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::memref::MemRefDialect"
  ];
}

def OneBitGpuCacheCopies : Pass<"onebit-gpu-cache-copies", "::mlir::ModuleOp"> {
  let summary = "Copies into and out of KV caches become linalg.copy, so "
                "that kernels do them";
  let description = [{
    On the GPU the KV caches (`onebit.kv_cache` arguments of public
    functions) are device memory, allocated once per context by the
    caller, which host code cannot touch; so is a train step's state
    (`onebit.train_state`), and copies into or out of it are made kernels
    the same way. Bufferization writes a layer's new
    keys and values into its cache slots with `memref.copy` into a subview
    (host code); this pass turns each `memref.copy` whose source or target
    is such an argument (or a view of one) into `linalg.copy`, which the
    GPU pipeline's linalg lowering makes a kernel. Runs after bufferization
    and before `convert-linalg-to-parallel-loops`; copies inside kernels
    and copies of other buffers are left alone.
  }];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect",
    "::mlir::memref::MemRefDialect"
  ];
}

def OneBitGpuContractionKernels
    : Pass<"onebit-gpu-contraction-kernels", "::mlir::ModuleOp"> {
  let summary = "Dense linalg contractions on buffers become tiled, "
                "shared-memory gpu.launch kernels";
  let description = [{
    A dense contraction with one reduction dimension (linalg.matmul,
    batch_matmul, the attention products, other generics whose indexing
    maps are projected permutations and whose body multiplies and adds) on
    float buffers becomes a gpu.launch: 256 threads over a 64 x 64 tile of
    the result, 4 x 4 outputs per thread, the A and B tiles staged in
    workgroup memory 16 reduction elements at a time, f32 accumulation,
    every other parallel dimension (batch, heads, grouped query heads) on
    the grid's z. The rows are the longest m dimension, the columns the n
    dimension innermost in the result. A contraction known to have fewer
    than `min-rows` rows or 16 columns (a decode step's attention) is left
    to the generic lowering (one thread per output). Runs after
    bufferization and before `convert-linalg-to-parallel-loops`.
  }];
  let options = [
    Option<"minRows", "min-rows", "int64_t", /*default=*/"16",
           "Fewest rows (static) for the tiled kernel">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect"
  ];
}

def OneBitGpuResidentConstants
    : Pass<"onebit-gpu-resident-constants", "::mlir::ModuleOp"> {
  let summary = "Upload the constants kernels read to device memory once, "
                "at load, and free them at unload";
  let description = [{
    Runs after the GPU launches exist and before `onebit-gpu-host-memory`.
    A constant `memref.global` (a weight) whose `memref.get_global` in host
    code is used only by kernels (inside `gpu.launch` bodies, directly or
    through host view ops such as `memref.subview`, `memref.expand_shape`)
    gets a device copy: an internal LLVM global holding the copy's memref
    descriptor, filled by a module constructor (`llvm.mlir.global_ctors`,
    run when the module is loaded: `gpu.alloc` and one host-to-device
    `gpu.memcpy` per constant) and released by a module destructor
    (`llvm.mlir.global_dtors`: `gpu.dealloc` of each copy that was made;
    it also runs when the constructor did not). Such a `memref.get_global`
    becomes a load of the descriptor, so kernels read device memory and a
    call moves no weight. A `memref.get_global` with a host use (a copy, a
    host load) is left alone (onebit-gpu-host-memory registers it).

    The constructor also adds to three external i64 globals that the
    runner reads: `onebit_gpu_uploads` (constants copied),
    `onebit_gpu_upload_bytes` (bytes copied) and `onebit_gpu_resident_bytes`
    (bytes held, decreased by the destructor).

    With `emulate=true` (the emulation pipeline) the device copies are host
    buffers: `memref.alloc`, `memref.copy`, `memref.dealloc`, with the same
    constructor, destructor, descriptor globals and counters, so the upload
    and the kernels' reads of the copy run numerically without a GPU.
  }];
  let options = [
    Option<"emulate", "emulate", "bool", /*default=*/"false",
           "Device copies are host buffers (for convert-gpu-launch-to-scf)">
  ];
  let dependentDialects = [
    "::mlir::LLVM::LLVMDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::func::FuncDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect"
  ];
}

def ConvertGPULaunchToSCF : Pass<"convert-gpu-launch-to-scf", "::mlir::ModuleOp"> {
  let summary = "Run gpu.launch kernels on the host: blocks and threads "
                "become loops (the CPU emulation of the GPU kernels)";
  let description = [{
    Rewrites every `gpu.launch` (before outlining) into host code with the
    same results, so that the kernel IR the GPU pipeline emits can be checked
    numerically on a machine without a GPU (`onebit-run
    --device=gpu-emulation`, `--onebit-gpu-emulation-pipeline`).

    The grid becomes sequential `scf.for` loops over block ids (x
    innermost). Workgroup memory and the per-thread arrays below are
    `memref.alloc`ed once before the grid loops, reused by every block (on a
    GPU, workgroup memory starts undefined too) and freed after them. The
    block's threads run as a loop over the linear thread id
    `x + y * bx + z * bx * by`. Synchronisation points cut the
    kernel body into phases, each phase one thread loop, so every thread
    finishes a phase before any thread starts the next:

    * `gpu.barrier` ends a phase;
    * `gpu.shuffle` (all four modes, any width) is a phase of its own that
      reads the source lane's value from the previous phase; warps are
      consecutive groups of 32 linear thread ids, as on NVIDIA GPUs, and an
      invalid lane gets its own value, as `shfl.sync` does;
    * `nvgpu.mma.sync` (m16n8k16, f16 A and B, f32 C) is a phase of its own
      too: each thread computes its D fragment from the fragments its
      warp's lanes held in the previous phase, gathered per the PTX
      fragment layout of mma.m16n8k16 (products exact in f32, added to C
      in order of k);
    * an `scf.for` whose body synchronises stays one loop around its phases;
      its bounds must be the same for every thread (they may depend on block
      ids and on values computed the same way by every thread) and its
      loop-carried values live in per-thread arrays.

    A value computed in one phase and used in a later one is kept in a
    per-thread array (a memref of the block size); pure computations
    that do not depend on the thread id are hoisted out of the thread loops
    instead. Block sizes must be constants. Synchronisation under `scf.if`,
    `scf.while` or other regions, async launches, dynamic shared memory and
    private attributions are rejected with an error naming the launch.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect"
  ];
}

#endif // ONEBIT_CONVERSION_PASSES_TD
