//===- Passes.td - onebit codegen passes -------------------*- tablegen -*-===//
//
// Codegen passes that only see upstream dialects (linalg, tensor, memref,
// scf, math, vector): the CPU and GPU pipelines run them after the onebit ops
// are gone or around them. They keep their `onebit-` flags and pass names so
// that pipelines, tests and scripts are unchanged.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_TRANSFORMS_PASSES_TD
#define ONEBIT_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def OneBitDecomposeAggregates
    : Pass<"onebit-decompose-aggregates", "::mlir::func::FuncOp"> {
  let summary = "Decompose aggregated linalg ops (linalg.softmax) into "
                "linalg ops that lower to loops";
  let description = [{
    `linalg.softmax` implements `AggregatedOpInterface` and has no direct
    loop lowering. This pass replaces every such op on tensors by its
    definition (max reduction, exp of the difference, sum, division), so the
    CPU and GPU pipelines can lower it. It runs first in
    `--onebit-cpu-pipeline`.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::tensor::TensorDialect"];
}

def OneBitLegalizeExpandShape
    : Pass<"onebit-legalize-expand-shape", "::mlir::func::FuncOp"> {
  let summary = "Rewrite tensor.expand_shape groups with several dynamic "
                "sizes into tensor.reshape";
  let description = [{
    MLIR 22's `--expand-strided-metadata` crashes on a `memref.expand_shape`
    whose reassociation group has more than one dynamic size (e.g.
    `[B*S, N] -> [B, S, N]` with dynamic B and S, the shape every imported
    MatMul with dynamic batch and sequence produces). This pass replaces such
    `tensor.expand_shape` ops by `tensor.reshape` with an explicit shape
    tensor, which bufferizes to `memref.reshape` and lowers without it.
    Other expand_shape ops are left alone.
  }];
  let dependentDialects = ["::mlir::tensor::TensorDialect",
                           "::mlir::arith::ArithDialect"];
}

def OneBitFreeAfterLastUse
    : Pass<"onebit-free-after-last-use", "::mlir::ModuleOp"> {
  let summary = "Move buffers out of bufferization.dealloc to a memref.dealloc "
                "after their last use, in linear time";
  let description = [{
    Runs between `--ownership-based-buffer-deallocation` and
    `--buffer-deallocation-simplification`. For every `bufferization.dealloc`
    it takes each buffer that
      - is a `memref.alloc` in the same block, with the constant-true
        ownership condition,
      - is reached, directly or through view-like ops (`subview`,
        `expand_shape`, `collapse_shape`, `cast`, `reinterpret_cast`,
        `extract_strided_metadata`, ...), only by ops of that block or ops
        nested in them, none of which passes it on (no retained value, no
        terminator, no op with a memref result other than a view or a call
        of a function defined in the module, no second entry of the
        dealloc; after ownership-based deallocation such a call returns
        buffers its caller owns, never an alias of an argument),
    removes it from the `bufferization.dealloc` and frees it with
    `memref.dealloc` right after the last op that reads or writes it or any
    of its views. Everything else stays with the upstream passes.

    The point is compile time and memory: upstream's simplification answers
    alias queries between every deallocated and every retained value, which
    is quadratic and did not finish within 10 minutes on a 30-layer train
    step; buffers freed early also lower the peak memory of the step. The
    pass visits every use once.
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect",
                           "::mlir::bufferization::BufferizationDialect"];
}

def OneBitVectorize : Pass<"onebit-vectorize"> {
  let summary = "Tile and vectorize linalg ops on buffers for the host CPU";
  let description = [{
    Runs after bufferization, before `convert-linalg-to-loops`. Every linalg
    op whose innermost loop extent is static and whose innermost loop
    dimension is contiguous in all its operands (read in the last position
    with unit stride, or not at all) is tiled to `[1, ..., 1, V]` (outer
    dimensions may be dynamic, as a prompt's length is in a KV-cache
    `@prefill`: they are tiled by 1; a dynamic innermost extent, such as
    attention's keys, is tiled by min(16, `max-width`) and its tile loop
    peeled, so the full tiles are static and vectorized and the last partial
    tile is left to loops), V the largest power of two from
    `max-width` down to `min-width` that divides the innermost extent, and
    each tile is vectorized by MLIR's linalg vectorizer: element-wise chains
    become vector arithmetic, reductions along the innermost dimension
    horizontal reductions once per tile, reductions along outer dimensions
    element-wise vector accumulation. The vector ops are lowered to 1-D
    loads, stores, broadcasts and `vector.reduction` here; transposes of the
    innermost dimension, gathers, ops narrower than `min-width` or with a
    ragged innermost extent are left to the loop lowering. With `stats` the
    pass prints how many ops it vectorized and why the others were left.
  }];
  let options = [
    Option<"minWidth", "min-width", "int64_t", /*default=*/"8",
           "narrowest vector (elements); innermost extents must be a "
           "multiple of it">,
    Option<"maxWidth", "max-width", "int64_t", /*default=*/"32",
           "widest vector (elements)">,
    Option<"stats", "stats", "bool", /*default=*/"false",
           "print the number of vectorized and skipped ops to stderr">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect"
  ];
}

def OneBitOutlineLoopNests
    : Pass<"onebit-outline-loop-nests", "::mlir::ModuleOp"> {
  let summary = "Outline the top-level loop nests of large functions into "
                "functions of their own";
  let description = [{
    A 30-layer train step lowers to one function with thousands of loop
    nests, and LLVM's function passes (dominator tree updates in
    simplifycfg, loop rotation, LICM) take time superlinear in the size of
    a function: the step of SmolLM2-135M did not finish compiling. This
    pass moves every top-level `scf.for` / `scf.parallel` of a function with
    at least `min-loops` of them into a private function
    `<name>__loop<i>`, called in its place; constants it reads are cloned
    into it, every other value it reads becomes an argument, its results
    the function's results. What stays in the function is straight-line
    glue (allocations, calls, memref descriptors; a single basic block of
    400k LLVM instructions for SmolLM2's backward pass), on which LLVM's
    instruction schedulers took ten minutes: the function gets
    `passthrough = ["optnone", "noinline"]`, so it is compiled at -O0.
    A function with fewer nests but at least `min-ops` ops outside them
    (a deep model's `@F_train_init`, which copies each of its hundreds of
    returned constants into a buffer of its own) is such glue too: it is
    marked the same way and its nests are outlined. Smaller functions are
    left alone, so small models compile exactly as before.

    Nests that outline to the same function (the same ops, types and
    cloned constants; the function's generic form with its name left out)
    share one: the Adam update of every parameter of one shape, or the
    gradient glue repeated in every layer, is compiled once, however deep
    the model. With `linalg-ops=true` the units are the top-level linalg
    ops on buffers instead of loop nests; the CPU pipeline runs it that
    way right after bufferization, so that vectorization, loop lowering
    and LLVM see one op per distinct form, then again on loop nests.
  }];
  let options = [
    Option<"minLoops", "min-loops", "unsigned", /*default=*/"8",
           "outline only in functions with at least this many top-level "
           "loop nests (linalg ops)">,
    Option<"minOps", "min-ops", "unsigned", /*default=*/"1024",
           "also outline in (and mark optnone) functions with at least "
           "this many ops outside loop nests; 0: no such limit">,
    Option<"linalgOps", "linalg-ops", "bool", /*default=*/"false",
           "outline top-level linalg ops on buffers instead of loop nests">
  ];
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::scf::SCFDialect"];
}

def OneBitMathApproximation : Pass<"onebit-math-approximation"> {
  let summary = "Replace f32 exp, expm1, tanh, log, log1p and erf by "
                "polynomial approximations";
  let description = [{
    Uses MLIR's polynomial approximations (arithmetic only), so that the
    loops computing them are compiled inline instead of calling scalar libm
    once per element. Part of the CPU pipeline; the numerics tests (ONNX
    models, the PyTorch KD step, GGUF against llama.cpp) bound the error.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect",
    "::mlir::vector::VectorDialect"
  ];
}

def OneBitOutlineLayers
    : Pass<"onebit-outline-layers", "::mlir::ModuleOp"> {
  let summary = "Outline repeated decoder layers into one function per "
                "layer form";
  let description = [{
    A model of L decoder layers is imported as L unrolled copies of the same
    ops, so its compile time grows with depth. This pass finds each
    function's layers by the locations the front ends give their ops (the
    IR contract: `/model/layers.N/...`, `blk.N....`; `layer-pattern`), and
    outlines every set of layers with the same structure (same ops,
    attributes and types, apart from their weights and the `onebit.name`
    that names them) into one private function `@<fn>__layer<k>`, called
    once per layer.

    * Constants that are not scalars or splats (the layer's weights, its
      quantized signs, g and h) stay in the caller and become call operands,
      so the function body holds none of them.
    * Scalar and splat constants equal in every layer are cloned into the
      body; those that differ become operands, as do the static offsets of
      `tensor.extract_slice` / `tensor.insert_slice` that differ (the layer's
      row of a `[L, ...]` KV cache): the layer index is then a call operand.
    * A result that `tensor.insert_slice`s write into an argument (a KV
      cache) is marked `onebit.inplace_arg`, so the cache is updated in place
      through the call (`--onebit-drop-inplace-results` drops the result
      after bufferization and checks that nothing was copied).
    * A form that occurs once, a layer whose ops are not all free of memory
      effects, and a layer whose results are used before its last op (not a
      convex region) stay inline.

    Each op belongs to the layer its location names (the first name in a
    fused or call-site location that matches); constants are never part of
    a layer, and ops whose locations name no layer stay in the caller. A
    segment is a run of one layer's top-level ops that no other layer's op
    interrupts and that ends at the first op of no layer reading it, so the
    forward and the backward of a layer in a generated gradient are two
    forms. `tensor.empty` and the `linalg.fill` of a constant into one that
    a segment reads but does not compute are recomputed in the body (CSE
    shares one zero tensor between all layers).
  }];
  let options = [
    Option<"layerPattern", "layer-pattern", "std::string",
           /*default=*/"\"(^|[/.])(layers|layer|blk|h|blocks|block)[./]([0-9]+)($|[/.])\"",
           "extended regular expression over location names; the last "
           "group of decimal digits it captures is the layer index">,
    Option<"minLayers", "min-layers", "unsigned", /*default=*/"2",
           "outline a layer form only when at least this many layers have "
           "it">,
    ListOption<"functions", "functions", "std::string",
               "outline only in these functions (default: every function)">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::tensor::TensorDialect"];
}

def OneBitLayerLoops : Pass<"onebit-layer-loops", "::mlir::ModuleOp"> {
  let summary = "Run consecutive calls of one outlined layer as a loop over "
                "the layers";
  let description = [{
    After `--onebit-outline-layers` a model of L layers still calls its
    layer function L times in a row, each call with its own weights, so the
    caller's code (operands, memref descriptors, deallocations) grows with
    depth. This pass replaces such a run of calls by one `scf.for` over the
    layers with one call in its body:

    * A run is a sequence of `func.call`s of one function in one block, each
      fed by the previous one (the same operand positions take the same
      results of the call before: the hidden state, a KV cache) and whose
      other results are unused. Only constant-like ops (no operands, no
      memory effects: `arith.constant`, `memref.get_global`) may sit between
      its calls, so the calls keep their order relative to everything else.
    * The fed operands become the loop's iteration arguments. An operand
      that is one value in every call is used as it is. An operand that
      differs (the layer's weights) must be defined by a constant-like op in
      every call: integer and index constants in arithmetic progression (the
      layer's index) are computed from the induction variable; the others
      are chosen by an `scf.index_switch` on it, one case per layer holding
      copies of that layer's constant ops, so each layer adds only the
      addresses of its weights to the code.
    * When the last call of a run has a used result that does not feed the
      next call, that call stays after the loop. A run rolls only if at
      least `min-calls` calls go into the loop.

    The CPU pipeline runs it after One-Shot Bufferize and
    `--onebit-drop-inplace-results` (a KV cache is then an operand updated
    in place, the same in every call) and before buffer deallocation.
  }];
  let options = [
    Option<"minCalls", "min-calls", "unsigned", /*default=*/"2",
           "roll a run only when at least this many calls go into the "
           "loop">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::scf::SCFDialect"];
}

def OneBitPeriodLoops : Pass<"onebit-period-loops", "::mlir::ModuleOp"> {
  let summary = "Run a sequence of ops repeated once per layer (a call and "
                "what follows it) as one loop";
  let description = [{
    The backward half of a train step calls each layer's adjoint and then
    updates that layer's parameters, once per layer: the same P ops N times,
    each time on other parameters; its forward calls each layer's forward
    and computes each layer's loss term. This pass finds, in each block,
    runs of ops of one kind at equal distances P and checks that the P ops
    starting at each call have period 0's structure (names, attributes,
    types, and equal regions); those that do become one `scf.for` of N
    iterations over one copy of the P ops:

    * an operand defined in the same period is the copy's own value; one
      defined by the period before (the gradient flowing down) is an
      iteration argument, whose first value is what period 0 reads;
    * an operand from before the periods that is the same in every period is
      used as it is; integer constants in arithmetic progression are
      computed from the induction variable; other operands from before the
      periods (a layer's parameters, its saved activations) are picked by an
      `scf.index_switch` on it;
    * a result may be read by its own period, by the next period where the
      chain reads it, or, for the last period's chain values, after the
      loop. A result read after the loop for other periods (a layer's output
      read by the loss terms and the backward) is kept per period: a scalar
      in a `memref<N x T>`, a buffer of its own (an allocation, or a call
      result the callee allocates) in a byte buffer of N slices read through
      `memref.view` (an allocation becomes its slice; a call result is
      copied into it after a `cf.assert` that its shape is the first one's).
      Each reader after the loop reads its slice, created just before it, so
      that readers repeated per layer roll in turn. Buffers the function
      returns are not kept this way (the caller frees each one);
    * when the first period cannot be in the loop (a stacked buffer of
      dynamic shape needs a shape before the loop, or the first period reads
      differently: a sum's first term `0 + x`), it stays before the loop and
      its stacked values move to slice 0. Otherwise a run whose periods are
      read in other ways rolls one period fewer, down to `min-periods`.

    Runs are found from the calls of one callee and, when their period has
    at least 8 ops, from ops of any other kind (the loss terms and their
    gradients between the layer calls); the earliest run is rolled first.
    A run found from another op than its period's first starts as early as
    the ops before it repeat one period later.

    The loop keeps the order of every op, so it may write memory. The CPU
    pipeline runs it after One-Shot Bufferize, `--onebit-drop-inplace-results`
    and `--onebit-distinct-results` (parameters updated in place are
    arguments written by the period's ops) and before buffer deallocation.
  }];
  let options = [
    Option<"minPeriods", "min-periods", "unsigned", /*default=*/"2",
           "roll a run only when at least this many periods go into the "
           "loop">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::cf::ControlFlowDialect",
                           "::mlir::func::FuncDialect",
                           "::mlir::memref::MemRefDialect",
                           "::mlir::scf::SCFDialect"];
}

def OneBitSimplifyOwnership
    : Pass<"onebit-simplify-ownership", "::mlir::func::FuncOp"> {
  let summary = "Remove, in one rewrite each, the buffers a "
                "bufferization.dealloc never frees and the switch results "
                "that are one value in every case";
  let description = [{
    Ownership-based deallocation lists, at a function's return, every buffer
    the function can see, its arguments included with the condition
    `false`: a train step's last `bufferization.dealloc` names each of its
    2,000 parameters and moments at 32 layers. It also gives each buffer an
    `scf.index_switch` picks (a layer's parameters, in a loop over the
    layers) an ownership result, `false` in every case. The canonicalizer
    takes both apart one operand or result per rewrite, rebuilding the op
    each time: 0.29 s at 32 layers against 0.04 s at 4. This pass, run right
    after `--ownership-based-buffer-deallocation`:

    * rebuilds each dealloc once without its pairs whose condition is the
      constant `false` (never freed, and adding nothing to the retained
      values' conditions); a dealloc with nothing to free (a switch's case
      that picks arguments) is erased, its updated conditions `false`; the
      constants and metadata extractions only the dropped pairs read go too;
    * replaces each switch result that every case yields as the same
      constant, or as the same value defined outside the switch, by that
      value, and rebuilds the switch once without them;
    * erases every `arith.constant` nothing reads (the deallocation builds a
      `false` wherever it needs one: 8,500 in a 32-layer step).
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::bufferization::BufferizationDialect"];
}

def OneBitEntryArgTable
    : Pass<"onebit-entry-arg-table", "::mlir::ModuleOp"> {
  let summary = "Pass an entry's statically shaped buffers as pointers in one "
                "table argument";
  let description = [{
    A train step takes every parameter and Adam moment as its own buffer:
    2,000 memref arguments at 32 layers, 11,000 scalars once lowered. Each
    is unpacked by the entry's argument wrapper, received by the entry, and
    rebuilt as a descriptor for the `scf.index_switch` that picks a layer's
    buffers in a loop over the layers, so the code grows with depth although
    the layer's code is compiled once.

    This pass gives each public function with a body that the module does
    not call (an entry) one more argument, a
    `memref<N x index>` (N: the function's argument count) that holds, at
    position k, the address of argument k, and removes every argument that is
    a memref of static shape and identity layout: such a buffer is its
    address, the rest of its descriptor is constants. The function's
    `onebit.arg_table` attribute lists the removed argument positions; the
    runtime (`Executable`) fills the table from the caller's tensors.

    * A switch result that picks argument `a + b * i` for every value `i` its
      operand can take (an `scf.for` induction variable with constant bounds,
      the default region included) becomes a load of the table at
      `a + b * i`, and the switch loses that result: the loop reads the
      layer's buffer without a descriptor per layer.
    * Other uses read the argument from the table at the function's start.

    Run late (before `scf` is lowered to `cf`): the views are built as
    LLVM-dialect descriptors cast to the memref type, which the conversion
    to LLVM folds away.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::LLVM::LLVMDialect",
                           "::mlir::memref::MemRefDialect"];
}

def OneBitDestinationInits
    : Pass<"onebit-destination-inits", "::mlir::func::FuncOp"> {
  let summary = "Compute a result materialized into an argument in that "
                "argument (its op's empty init replaced)";
  let description = [{
    `%r = bufferization.materialize_in_destination %v in %arg` writes %v
    into the buffer of the function argument %arg (e.g. a data-parallel
    gradient into the trainer's all-reduce buffer:
    `onebit-build-train-step`'s `grad-destinations`). If %v is a result of a
    destination-style op (a `linalg.generic`) whose init for it is a
    `tensor.empty`, or a `linalg.fill` of one (a zero accumulator), this
    pass makes %arg that init (a fresh fill of %arg for the fill), so that
    One-Shot Bufferize computes %v in %arg's buffer and the materialization
    copies nothing. It applies only where %arg is read by nothing else.
    Elementwise fusion replaces an init its op does not read with a new
    `tensor.empty`, so this runs after fusion, right before bufferization;
    upstream's `eliminate-empty-tensors` would replace every use of a shared
    `tensor.empty` and needs function-boundary analysis to see %arg as
    writable.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def OneBitDropInPlaceResults
    : Pass<"onebit-drop-inplace-results", "::mlir::ModuleOp"> {
  let summary = "Drop the memref results that a function wrote in place "
                "into an argument (`onebit.inplace_arg`)";
  let description = [{
    A KV-cache entry returns its updated caches as tensors tied to the
    argument they update (result attribute `onebit.inplace_arg = N`). After
    One-Shot Bufferize such a result is argument N's buffer itself; returning
    it would make buffer deallocation clone the whole cache on every call.
    This pass removes these results from the function's signature and its
    returns, so the caller's buffer is updated in place and nothing is
    copied. A tied result that is not argument N's buffer (bufferization had
    to copy) is an error naming the result: the model would not update its
    cache in place. Runs between One-Shot Bufferize and buffer deallocation.
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
}

def OneBitDistinctResults
    : Pass<"onebit-distinct-results", "::mlir::ModuleOp"> {
  let summary = "Give each memref result of a called function a buffer of "
                "its own";
  let description = [{
    A function that returns one tensor twice returns one buffer twice after
    One-Shot Bufferize, and ownership-based deallocation then hands its
    caller two owned results that are one buffer: freeing each after its
    last use frees it twice. For every function the module calls, this pass
    removes such repeats: a private function called only by `func.call`
    whose returns all repeat one value loses the repeated result, and its
    calls use the first one instead (nothing is copied); any other repeat,
    or a view of a buffer the function already returns, is returned as a
    `bufferization.clone`. Functions nothing in the module calls (entry
    points) are left alone: the runtime frees a buffer returned twice once.
    Runs between One-Shot Bufferize and buffer deallocation.
  }];
  let dependentDialects = ["::mlir::bufferization::BufferizationDialect",
                           "::mlir::memref::MemRefDialect"];
}

def OneBitFuseElementwise : Pass<"onebit-fuse-elementwise"> {
  let summary = "Elementwise linalg fusion that keeps reads of a tensor "
                "before its in-place writes";
  let description = [{
    MLIR's `linalg-fuse-elementwise-ops` (the same patterns: elementwise
    fusion of single-use producers, reshape folding by expansion, the
    bubbling of expand_shape, the canonicalizations and constant folding),
    except that a producer is not fused into a consumer when an operation
    between the two, in the same block, takes a block argument that the
    producer reads (a function argument) as a destination (`outs`). The fused operation sits where the
    consumer was, so the producer's read of that operand would move past
    the write; after One-Shot Bufferize the write is then no longer in
    place (a train step updated in place, `onebit.inplace_arg`, fails in
    `onebit-drop-inplace-results`). The GPU pipeline uses it: there the
    products of a parameter (g) with a gradient are elementwise and would
    be fused into the sum of two layers' input gradients, after g's Adam
    update.
  }];
  let dependentDialects = [
    "::mlir::affine::AffineDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

#endif // ONEBIT_TRANSFORMS_PASSES_TD
