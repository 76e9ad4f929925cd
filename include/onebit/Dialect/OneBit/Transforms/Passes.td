//===- Passes.td - onebit dialect passes -------------------*- tablegen -*-===//
//
// Transformations of and into the onebit dialect.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_DIALECT_ONEBIT_TRANSFORMS_PASSES_TD
#define ONEBIT_DIALECT_ONEBIT_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def OneBitQuantize : Pass<"onebit-quantize", "::mlir::ModuleOp"> {
  let summary = "Rewrite FP linear layers with constant weights into "
                "SVID-initialised onebit.binary_linear";
  let description = [{
    Finds every full-precision linear layer whose weight is a compile-time
    constant (`arith.constant` with `dense` or `dense_resource` data, f32,
    f16 or bf16) and replaces it by `onebit.binary_linear`, initialised by
    Sign-Value-Independent Decomposition: `S = sign(W)`, `|W| ~ h g^T`
    (rank 1). Matched forms:

    * `linalg.matmul` with the weight as its right operand, stored `K x N`
      (ONNX MatMul) or `N x K` (transposed through `indexing_maps`, as Gemm
      with transB and torch Linear produce);
    * `linalg.batch_matmul` / `linalg.generic` batched contractions whose
      weight is the same constant 2-D matrix for every batch;
    * either of the above followed by the addition of a constant bias vector
      broadcast over the output features; the bias becomes the op's bias.

    Selection: `exclude` (glob patterns matched against the weight's name —
    its `dense_resource` key or `NameLoc` — and the layer op's location
    name), `min-elements`, and `keep-head`: the layer producing the logits
    (lm_head) stays in full precision. The head is recognised as the last
    linear layer on the path to a function result: a layer whose result
    reaches a `func.return` through ops that are not themselves matched
    linear layers, or whose weight name contains `lm_head`.

    `init` chooses the rank-1 factorisation of |W|: `nmf` (non-negative
    matrix factorisation by alternating least squares from a seeded random
    start, the solver scikit-learn's coordinate descent reduces to at rank
    1), `svd` (power iteration for the top singular pair; the vectors are
    taken non-negative) or `mean` (the naive baseline `sign(W) * mean|W|`).
    `stats` prints, for each layer, the relative Frobenius error
    `||W - S . (h g^T)|| / ||W||` and the bits per weight; `remarks` emits the
    same numbers as remarks on the layers.
  }];
  let dependentDialects = [
    "::onebit::OneBitDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::linalg::LinalgDialect"
  ];
  let options = [
    Option<"init", "init", "std::string", /*default=*/"\"nmf\"",
           "rank-1 factorisation of |W|: nmf, svd or mean">,
    Option<"maxIters", "max-iters", "unsigned", /*default=*/"200",
           "iteration limit of the nmf and svd solvers">,
    Option<"tolerance", "tol", "double", /*default=*/"1e-6",
           "stop when the relative change of the factors is below this">,
    Option<"seed", "seed", "unsigned", /*default=*/"0",
           "seed of the nmf random start">,
    ListOption<"exclude", "exclude", "std::string",
               "glob patterns of layer or weight names to keep in FP">,
    Option<"minElements", "min-elements", "int64_t", /*default=*/"0",
           "only quantize weights with at least this many elements">,
    Option<"keepHead", "keep-head", "bool", /*default=*/"true",
           "keep the logits layer (lm_head) in full precision">,
    Option<"postNorm", "post-norm", "bool", /*default=*/"true",
           "add the parameter-free post-LayerNorm of the OneBit architecture">,
    Option<"normEps", "norm-eps", "double", /*default=*/"1e-5",
           "epsilon of the post-LayerNorm">,
    Option<"valueTypeName", "value-type", "std::string", /*default=*/"\"f32\"",
           "element type of g and h: f32 or f16">,
    Option<"printStats", "stats", "bool", /*default=*/"false",
           "print per-layer error and bits per weight to stderr">,
    Option<"emitRemarks", "remarks", "bool", /*default=*/"false",
           "emit per-layer statistics as remarks">,
    Option<"keepTeacher", "keep-teacher", "bool", /*default=*/"false",
           "keep a private full-precision copy <f>_teacher of every public "
           "function (the frozen teacher of --onebit-build-train-step)">
  ];
  let statistics = [
    Statistic<"numQuantized", "num-quantized", "linear layers quantized">,
    Statistic<"numSkipped", "num-skipped", "linear layers left in FP">
  ];
}

def OneBitAutodiff : Pass<"onebit-autodiff", "::mlir::ModuleOp"> {
  let summary = "Reverse-mode differentiation of a linalg-on-tensors loss";
  let description = [{
    For `func.func @f` whose result #0 is a floating-point scalar or a
    one-element tensor (the loss), adds `@f_grad` with the same arguments
    returning the results of `@f` followed by the gradient of the loss with
    respect to each argument listed in `wrt` (all floating-point arguments
    when empty). The new function stays in linalg on tensors:

    * named linalg ops are generalised and `linalg.softmax` decomposed;
      elementwise arith/math on tensors become `linalg.generic`;
    * a `linalg.generic` is differentiated through its scalar payload
      (arith add/sub/mul/div/neg/max/min/select/cmpf/extf/truncf, math
      exp/exp2/expm1/log/log2/log10/log1p/tanh/rsqrt/sqrt/powf/fpowi/erf/
      erfc/absf/copysign/sin/cos/atan/fma, remf, floor/ceil/round: zero);
      one adjoint generic per differentiated operand reduces over the loops
      that operand's indexing map does not use, so broadcasts adjoin to sums,
      reductions to broadcasts and contractions to contractions.
      Reductions must be `acc + expr` or `max/min(acc, expr)` (the adjoint
      goes to the elements equal to the result);
    * tensor structural ops have structural adjoints (expand_shape ↔
      collapse_shape, reshape, cast, extract_slice → insert_slice into
      zeros, insert_slice, concat → slices, pad → slice, extract, insert,
      from_elements, splat);
    * a gather (a generic whose payload yields `tensor.extract` of a
      differentiated tensor from above, at indices from its integer operands
      and `linalg.index`) scatter-adds the output adjoint into that tensor
      with an `scf.for` nest over the iteration space (trainable
      embeddings);
    * `onebit.binary_linear_train` is differentiated exactly except for the
      sign, which uses OneBit's straight-through estimator
      `dW = dS * (1.001 - tanh(W)^2)`;
    * constants, `tensor.empty`, index computations get no adjoint; values
      used several times accumulate their adjoints;
    * a `func.call` of a single-block function is differentiated through
      adjoint functions of the callee, made once per callee and use (which
      operands are differentiated, which results carry an adjoint) and
      called per call site: `@<callee>_fwd`, the forward that also returns
      the activations the backward reads (it replaces the primal call), and
      `@<callee>_bwd(residuals..., seeds...) -> (d operands...)`; with
      `checkpoint-activations=true`, `@<callee>_adj(operands..., seeds...)`,
      which recomputes the forward from the operands (activation
      checkpointing: only the call's operands live until its backward).

    Ops without a rule that lie on a path from a differentiated argument to
    the loss are reported by name.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect"
  ];
  let options = [
    Option<"funcName", "func", "std::string", /*default=*/"\"\"",
           "the function returning the loss">,
    ListOption<"wrt", "wrt", "unsigned",
               "argument numbers to differentiate (default: every "
               "floating-point argument)">,
    Option<"gradName", "name", "std::string", /*default=*/"\"\"",
           "name of the gradient function (default: <func>_grad)">,
    Option<"simplify", "simplify", "bool", /*default=*/"true",
           "canonicalize and CSE the gradient function">,
    Option<"checkpoint", "checkpoint-activations", "bool",
           /*default=*/"false",
           "the adjoint of a func.call recomputes the callee's forward from "
           "the call's operands instead of saving its activations">
  ];
}

def OneBitInt8Weights : Pass<"onebit-int8-weights", "::mlir::ModuleOp"> {
  let summary = "Rewrite the FP linear layers left in a model into "
                "weight-only int8 onebit.int8_linear";
  let description = [{
    The deployment step for what `--onebit-quantize` keeps in full precision
    (the logits layer, excluded layers): every linear layer with a constant
    weight, matched exactly as `--onebit-quantize` matches them (including a
    folded `+ bias`), becomes `onebit.int8_linear` with symmetric per-row
    quantization

    ```
    scale[n] = max_k |W[n, k]| / 127      Wq[n, k] = round(W[n, k] / scale[n])
    ```

    Activations stay floating point. With `tables` (the default), a constant
    2-D table read only by `tensor.extract %t[%row, %col]` whose row is a
    token id (an integer function argument read by the enclosing
    linalg.generic, through casts, clamps and reshapes: the importers'
    embedding gather) becomes int8 too, each read
    `sitofp(Wq[row, col]) * scale[row]`; tables read at computed rows (a RoPE
    cache) stay FP;
    a tied embedding shares the int8 constants of the logits layer, so its
    FP table is gone from the model. Functions marked
    `onebit.teacher` are left alone. `stats` prints, for each layer, the
    relative Frobenius error `||W - scale * Wq|| / ||W||`. Weights with a
    NaN or an infinity are refused with an error naming the position.
  }];
  let dependentDialects = [
    "::onebit::OneBitDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::linalg::LinalgDialect"
  ];
  let options = [
    Option<"minElements", "min-elements", "int64_t", /*default=*/"0",
           "only rewrite weights with at least this many elements">,
    Option<"tables", "tables", "bool", /*default=*/"true",
           "also make constant lookup tables (embeddings) int8">,
    Option<"printStats", "stats", "bool", /*default=*/"false",
           "print per-layer relative error to stderr">
  ];
  let statistics = [
    Statistic<"numRewritten", "num-rewritten", "linear layers made int8">,
    Statistic<"numTables", "num-tables", "lookup tables made int8">
  ];
}

def OneBitDecomposeInt8Linear : Pass<"onebit-decompose-int8-linear"> {
  let summary = "Lower onebit.int8_linear to linalg on tensors";
  let description = [{
    Emits `onebit.int8_linear` as one `linalg.generic` contraction whose
    payload converts the int8 weight to f32 (`arith.sitofp`) and
    multiply-accumulates, followed by an elementwise `* scale (+ bias)`. The
    weights stay int8 in memory. Used by the GPU pipeline, and by any target
    without a dedicated kernel (the CPU pipeline calls the runtime's
    `onebit_int8_linear_f32` instead).
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def OneBitDecomposeTrainForm : Pass<"onebit-decompose-train-form"> {
  let summary = "Lower onebit.binary_linear_train to linalg on tensors";
  let description = [{
    Emits the training form of the 1-bit layer as `linalg.generic` ops:
    `x * g`, `sign(W)` (0 → +1), the contraction over the input features,
    `* h`, the optional LayerNorm (biased variance) and the bias, so the CPU
    and GPU pipelines compile it. Run it after `--onebit-autodiff`: the
    straight-through estimator belongs to the op, not to its decomposition.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def OneBitToTrainForm : Pass<"onebit-to-train-form", "::mlir::ModuleOp"> {
  let summary = "Turn packed 1-bit layers into their trainable form";
  let description = [{
    Replaces every `onebit.binary_linear` by `onebit.binary_linear_train`
    with the latent weight `sign(W) * latent-scale` (OneBit starts training
    from `sign(W) * 0.01`), keeping g, h, bias and the post-norm. Constant
    signs give a constant latent weight named `<layer>.latent`; other signs
    are unpacked with `onebit.unpack_signs`. The training form computes in
    f32; f16 operands are converted.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
  let options = [
    Option<"latentScale", "latent-scale", "double", /*default=*/"0.01",
           "magnitude of the initial latent weights">
  ];
}

def OneBitPackTrained : Pass<"onebit-pack-trained", "::mlir::ModuleOp"> {
  let summary = "Pack trained latent weights into 1-bit layers";
  let description = [{
    The packaging step after training: every `onebit.binary_linear_train`
    becomes `onebit.binary_linear` with `sign(W)` packed in the canonical
    layout (0 → +1). Constant weights are packed into `<layer>.signs`;
    other weights get an `onebit.pack_signs`.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def OneBitBuildTrainStep : Pass<"onebit-build-train-step", "::mlir::ModuleOp"> {
  let summary = "Generate OneBit's knowledge-distillation train step "
                "(teacher + student forward, L_KD, reverse mode, Adam)";
  let description = [{
    From the forward function `@f` (inputs -> logits, classes last) builds,
    in linalg on tensors that the CPU and GPU pipelines lower:

    * `@f_student(params..., inputs...)`: the 1-bit student in training form
      (`onebit.binary_linear_train`), its parameters (latent weight, g, h of
      every binary layer, named `<layer>.latent/.g/.h`) as arguments;
    * `@f_kd_loss(params..., inputs...) -> (loss, l_ce, l_mse)`: the frozen FP
      teacher `@f_teacher` and the student on the same inputs;
      `L_CE = -(1/n) sum_tokens sum_c softmax(t/T) log_softmax(s/T)` and
      `L_MSE = sum_layers (1/n) sum_tokens |q_T/|q_T| - q_S/|q_S||^2` over the
      hidden state after every decoder layer; `loss = L_CE + alpha L_MSE`;
    * `@f_kd_loss_grad`: its reverse-mode gradient (`--onebit-autodiff`, with
      the straight-through sign);
    * `@f_train_step(params..., adam_m..., adam_v..., inputs..., lr, step) ->
      (params'..., adam_m'..., adam_v'..., loss, l_ce, l_mse)`: Adam with
      bias correction (step counts from 1) and decoupled weight decay;
    * `@f_train_init() -> (params...)`: the initial parameters
      (latent = sign(W) * latent-scale, SVID g and h).

    The teacher is `@f_teacher` from `--onebit-quantize="keep-teacher=true"`;
    when `@f` is still full precision the pass keeps the teacher and
    quantizes the student itself with the default options. Hidden states are
    found by location: for every layer scope matched by `layer-regex` (last
    group = layer index), the last value produced in the scope and used
    outside it (the residual stream). `hidden-states=` names them instead.
    `mse-last-layer=false` leaves the last layer's output out: the OneBit
    reference code sums over `hidden_states[0..L-1]` of Hugging Face models,
    which are the inputs of the L layers (the embedding output, the same in
    teacher and student while the embeddings are frozen, then the output of
    every layer but the last). It selects among found taps, so it cannot be
    combined with `hidden-states=`.
    By default only the 1-bit layers train (latent weight, g, h), as in the
    paper; embeddings, norms and the head stay frozen constants.
    `trainable=` adds full-precision weights to the parameters:
    `embeddings` (tables read by a gather), `head` (the full-precision weight
    of the contraction that produces the logits), `norms` (rank-1 weights
    whose name matches `norm-regex`); `trainable-regex=` adds every f32
    constant whose name matches. Full-precision parameters are named by their
    constant (the head: `<scope>.weight`) and come after the 1-bit ones.

    `split-update=true` (data-parallel training) also makes
    `@f_kd_loss_grad(params..., inputs...) -> (loss, l_ce, l_mse, grads...)`
    public and adds `@f_apply_update(params..., adam_m..., adam_v...,
    grads..., lr, step, grad_scale) -> (params'..., adam_m'..., adam_v'...)`,
    the same Adam update on gradients given from outside (summed across
    ranks and micro-batches by the trainer) times `grad_scale` (the trainer
    passes 1 / (ranks * micro-batches), so the sum is not scaled into a
    copy), and `@f_apply_update_slice(p, adam_m, adam_v, grads, lr, step,
    grad_scale) -> (p', adam_m', adam_v')`, the same update on 1-D
    `tensor<?xf32>` pieces of the parameters laid end to end (each rank
    updates its own slice when the optimizer state is sharded, ZeRO-1).
    `@f_train_step` is unchanged.

    `update-in-place=true` writes `@f_train_step`'s new parameters and Adam
    moments into its parameter and moment arguments: each update's
    `linalg.generic` takes them as its outputs, and each such result
    carries `onebit.inplace_arg` (the argument it is written into), so that
    after bufferization `--onebit-drop-inplace-results` drops it and the
    caller's buffers hold the new state (the runner's `runInPlace`). A step
    then allocates no second copy of the state. With `split-update=true` it
    applies to `@f_apply_update` and `@f_apply_update_slice` instead (their
    parameter and moment results are tied to those arguments), and
    `@f_train_step`, which the data-parallel trainer does not run, is built
    as without it. Those arguments carry
    `onebit.train_state`: the GPU pipeline takes them in device memory,
    which the training session holds for the run (docs/gpu.md).

    `grad-destinations=true` (with `split-update=true`) appends to
    `@f_kd_loss_grad` one argument per parameter, `<name>.grad`, of the
    parameter's type, and returns each gradient through
    `bufferization.materialize_in_destination` into it, tied to it by
    `onebit.inplace_arg`. Each materialization comes right after its
    gradient is made, with that op's location, so that layer outlining
    takes it into the layer's function. The data-parallel trainer passes
    pieces of its all-reduce buffer; the CPU pipeline's
    `--onebit-destination-inits` makes each gradient's op write there, so
    the gradients are summed where they are computed, with no copy between
    (a gradient whose op cannot write there is copied in once, by the
    compiled code). The fused step calls the gradient with fresh
    destinations.

    `grad-ready-calls=true` (with `grad-destinations=true`) follows each
    materialization with a call of the runtime's
    `@onebit_runtime_grad_ready` on its destination's address
    (`bufferization.to_buffer read_only`,
    `memref.extract_aligned_pointer_as_index`): the data-parallel trainer
    listens and all-reduces each bucket of gradients as soon as the bucket
    is complete, during the rest of the backward. With no listener the
    call returns at once.

    `moments=bf16` stores `@f_train_step`'s Adam moments (its `adam_m` and
    `adam_v` arguments and results) in bf16: the update widens them to
    f32, computes as with f32 moments, and rounds the new moments to
    bf16 (to nearest even). Half the optimizer state's memory; the
    parameters stay f32. Not with `split-update=true`.

    `outline-layers=true` runs `--onebit-outline-layers` on `@f_kd_loss`
    before it is differentiated: the teacher's and the student's layers
    become calls of one function per layer form, and the gradient calls the
    adjoint functions of each form per layer (`--onebit-autodiff`), so its
    size does not grow with depth. `checkpoint-activations=true` (which
    implies it) makes each layer's backward recompute the layer's forward
    from its input.
  }];
  let dependentDialects = [
    "::onebit::OneBitDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::func::FuncDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect"
  ];
  let options = [
    Option<"funcName", "func", "std::string", /*default=*/"\"\"",
           "the forward function (default: the only public function)">,
    ListOption<"trainable", "trainable", "std::string",
               "full-precision weights that train too: embeddings, norms, "
               "head (default: none, only the 1-bit layers)">,
    Option<"normRegex", "norm-regex", "std::string",
           /*default=*/"\"norm|(^|[./_])ln(_[0-9a-z]+)?([./]|$)\"",
           "case-insensitive regex over constant names that trainable=norms "
           "selects (rank-1 f32 constants only)">,
    Option<"trainableRegex", "trainable-regex", "std::string",
           /*default=*/"\"\"",
           "also train every f32 constant whose name matches this regex">,
    Option<"alpha", "alpha", "double", /*default=*/"1.0",
           "weight of L_MSE in L_KD = L_CE + alpha * L_MSE">,
    Option<"temperature", "temperature", "double", /*default=*/"1.0",
           "logits are divided by this before the softmaxes of L_CE">,
    ListOption<"hiddenStates", "hidden-states", "std::string",
               "location names of the hidden states for L_MSE (default: "
               "found from layer-regex)">,
    Option<"mseLastLayer", "mse-last-layer", "bool", /*default=*/"true",
           "found taps include the last decoder layer's output; false "
           "compares the inputs of the layers instead, as the reference "
           "code does">,
    Option<"layerRegex", "layer-regex", "std::string",
           /*default=*/"\"(^|/)(layers|h|blocks|layer)\\\\.([0-9]+)/\"",
           "regex over op location names whose last group is the decoder "
           "layer index">,
    Option<"beta1", "beta1", "double", /*default=*/"0.9", "Adam beta1">,
    Option<"beta2", "beta2", "double", /*default=*/"0.98", "Adam beta2">,
    Option<"epsilon", "epsilon", "double", /*default=*/"1e-8", "Adam epsilon">,
    Option<"weightDecay", "weight-decay", "double", /*default=*/"0.0",
           "decoupled weight decay (the OneBit reference scripts use 0.01)">,
    Option<"latentScale", "latent-scale", "double", /*default=*/"0.01",
           "initial latent weight magnitude: sign(W) * latent-scale">,
    Option<"splitUpdate", "split-update", "bool", /*default=*/"false",
           "also expose the gradient (@f_kd_loss_grad, public) and the "
           "optimizer update on given gradients (@f_apply_update), for "
           "data-parallel training">,
    Option<"outlineLayers", "outline-layers", "bool", /*default=*/"false",
           "outline the repeated decoder layers of @f_kd_loss "
           "(--onebit-outline-layers) before differentiating it, so the "
           "backward is one function per layer form too">,
    Option<"checkpointActivations", "checkpoint-activations", "bool",
           /*default=*/"false",
           "outline the layers (implies outline-layers) and have each "
           "layer's backward recompute its forward from the layer's input "
           "instead of keeping its activations">,
    Option<"updateInPlace", "update-in-place", "bool", /*default=*/"false",
           "@f_train_step (with split-update: @f_apply_update and "
           "@f_apply_update_slice) writes the new parameters and moments "
           "into its arguments (results tied with onebit.inplace_arg) "
           "instead of returning new tensors">,
    Option<"gradDestinations", "grad-destinations", "bool",
           /*default=*/"false",
           "with split-update: @f_kd_loss_grad takes one destination "
           "argument per parameter (<name>.grad) and writes that gradient "
           "into it (the result tied with onebit.inplace_arg), through "
           "bufferization.materialize_in_destination">,
    Option<"gradReadyCalls", "grad-ready-calls", "bool",
           /*default=*/"false",
           "with grad-destinations: right after each gradient is "
           "materialized, its destination's address goes to the runtime "
           "(a call of @onebit_runtime_grad_ready), so that the trainer can "
           "all-reduce it while the backward goes on">,
    Option<"moments", "moments", "std::string", /*default=*/"\"f32\"",
           "element type of @f_train_step's Adam moments: f32, or bf16 "
           "(stored rounded to bf16, half the memory; the update computes "
           "in f32). bf16 applies to the fused step, not split-update">
  ];
}

#endif // ONEBIT_DIALECT_ONEBIT_TRANSFORMS_PASSES_TD
