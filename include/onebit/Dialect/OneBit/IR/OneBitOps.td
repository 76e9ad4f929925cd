//===- OneBitOps.td - onebit operations --------------------*- tablegen -*-===//
//
// Operations of the onebit dialect: the binary linear layer and sign packing.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_DIALECT_ONEBIT_IR_ONEBITOPS_TD
#define ONEBIT_DIALECT_ONEBIT_IR_ONEBITOPS_TD

include "onebit/Dialect/OneBit/IR/OneBitDialect.td"
include "onebit/Dialect/OneBit/IR/OneBitAttrs.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/BuiltinAttributes.td"

def OneBit_FloatTensor : RankedTensorOf<[F16, F32]>;
def OneBit_FloatVector : 1DTensorOf<[F16, F32]>;
def OneBit_SignWords : 2DTensorOf<[I8, I16, I32, I64]>;

def OneBit_BinaryLinearOp : OneBit_Op<"binary_linear",
    [Pure]> {
  let summary = "1-bit linear layer: sign flips, value vectors, post-norm";
  let description = [{
    Computes, for every row `x` (length K) of `input` and every output feature
    `n` (N of them):

    ```
    y[n] = h[n] * sum_k S[n, k] * (g[k] * x[k])     S in {-1, +1}
    ```

    then, when `norm_eps` is present, a parameter-free LayerNorm over the N
    outputs of the row, `z = (y - mean(y)) / sqrt(var(y) + norm_eps)` with the
    biased variance; then, when `bias` is present, `z + bias`.

    `input` is `... x K` with any number of leading (batch) dimensions; the
    result is `... x N` with the same leading dimensions and element type.
    `signs` holds S packed in the layout given by `layout` (see
    `#onebit.packing`); K is the length of `g` and N the number of rows of
    `signs`. Activations are f16 or f32; `g`, `h` and `bias` are f16 or f32
    independently of them, and arithmetic is done in f32.

    Example:

    ```mlir
    %y = onebit.binary_linear %x, %s, %g, %h
           layout #onebit.packing<word_bits = 32, bit_order = lsb_first, negative = 1>
           norm_eps = 1.0e-05
           : (tensor<2x16x128xf32>, tensor<64x4xi32>, tensor<128xf32>, tensor<64xf32>)
             -> tensor<2x16x64xf32>
    ```
  }];
  let arguments = (ins
    OneBit_FloatTensor:$input,
    OneBit_SignWords:$signs,
    OneBit_FloatVector:$g,
    OneBit_FloatVector:$h,
    Optional<OneBit_FloatVector>:$bias,
    OneBit_PackingAttr:$layout,
    OptionalAttr<F64Attr>:$norm_eps);
  let results = (outs OneBit_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $signs `,` $g `,` $h (`bias` $bias^)?
    `layout` $layout (`norm_eps` `=` $norm_eps^)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Input features (K): the length of `g`.
    int64_t getInFeatures();
    /// Output features (N): the number of rows of `signs`.
    int64_t getOutFeatures();
    bool hasPostNorm() { return getNormEps().has_value(); }
  }];
}

def OneBit_PackSignsOp : OneBit_Op<"pack_signs", [Pure]> {
  let summary = "pack sign(W) of an N x K matrix into 1-bit words";
  let description = [{
    Packs the signs of a floating-point `N x K` matrix into the word tensor
    `N x ceil(K / word_bits)` described by `layout`. Negative values pack as
    -1; zero and positive values as +1; NaN is rejected when folding.
    Folds when the operand is a constant, so quantized weights are stored at
    one bit per weight.
  }];
  let arguments = (ins 2DTensorOf<[F16, BF16, F32, F64]>:$weights,
                       OneBit_PackingAttr:$layout);
  let results = (outs OneBit_SignWords:$result);
  let assemblyFormat = [{
    $weights `layout` $layout attr-dict `:`
    type($weights) `->` type($result)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

def OneBit_UnpackSignsOp : OneBit_Op<"unpack_signs", [Pure]> {
  let summary = "expand packed signs into an N x K matrix of -1/+1";
  let description = [{
    The inverse of `onebit.pack_signs` on sign matrices: produces a
    floating-point `N x K` tensor whose entries are -1.0 or +1.0. K is the
    result's column count; the padding bits of each row are ignored. Used by
    reference lowerings and by the training form of the layer.
  }];
  let arguments = (ins OneBit_SignWords:$signs, OneBit_PackingAttr:$layout);
  let results = (outs 2DTensorOf<[F16, BF16, F32, F64]>:$result);
  let assemblyFormat = [{
    $signs `layout` $layout attr-dict `:`
    type($signs) `->` type($result)
  }];
  let hasVerifier = 1;
}

def OneBit_TrainFloatTensor : RankedTensorOf<[F16, F32, F64]>;
def OneBit_TrainFloatVector : 1DTensorOf<[F16, F32, F64]>;

def OneBit_BinaryLinearTrainOp : OneBit_Op<"binary_linear_train", [Pure]> {
  let summary = "training form of the 1-bit linear layer: latent weights, "
                "straight-through sign";
  let description = [{
    The layer of `onebit.binary_linear` with the signs given by a latent
    full-precision weight `W` (`N x K`) instead of packed bits:

    ```
    y[n] = h[n] * sum_k sign(W[n, k]) * (g[k] * x[k])    sign(0) = +1
    ```

    then the optional parameter-free LayerNorm over the N outputs
    (`norm_eps`) and the optional `bias`, exactly as in `binary_linear`.

    Under `--onebit-autodiff` the sign is differentiated with the
    straight-through estimator of OneBit: `dW = dS * (1.001 - tanh(W)^2)`
    where `dS` is the gradient with respect to `sign(W)`; the gradients of
    `x`, `g`, `h`, `bias` and the LayerNorm are exact.
    `--onebit-decompose-train-form` lowers the op to linalg on tensors,
    `--onebit-pack-trained` turns it into the packed inference form.

    All floating-point operands and the result share one element type (f16,
    f32 or f64).

    Example:

    ```mlir
    %y = onebit.binary_linear_train %x, %w, %g, %h norm_eps = 1.0e-05
           : (tensor<2x16x128xf32>, tensor<64x128xf32>, tensor<128xf32>,
              tensor<64xf32>) -> tensor<2x16x64xf32>
    ```
  }];
  let arguments = (ins
    OneBit_TrainFloatTensor:$input,
    2DTensorOf<[F16, F32, F64]>:$weight,
    OneBit_TrainFloatVector:$g,
    OneBit_TrainFloatVector:$h,
    Optional<OneBit_TrainFloatVector>:$bias,
    OptionalAttr<F64Attr>:$norm_eps);
  let results = (outs OneBit_TrainFloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight `,` $g `,` $h (`bias` $bias^)?
    (`norm_eps` `=` $norm_eps^)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Input features (K): the column count of `weight`.
    int64_t getInFeatures() { return getWeight().getType().getDimSize(1); }
    /// Output features (N): the row count of `weight`.
    int64_t getOutFeatures() { return getWeight().getType().getDimSize(0); }
    bool hasPostNorm() { return getNormEps().has_value(); }
  }];
}

def OneBit_Int8LinearOp : OneBit_Op<"int8_linear", [Pure]> {
  let summary = "weight-only int8 linear layer (per-output-feature scales)";
  let description = [{
    Computes, for every row `x` (length K) of `input` and every output feature
    `n` (N of them):

    ```
    y[n] = scale[n] * sum_k W[n, k] * x[k]  (+ bias[n])     W in [-127, 127]
    ```

    `weights` is `N x K` signed 8-bit, row-major; `scales` holds one f32
    factor per row. Activations stay floating point (f16 or f32; arithmetic
    in f32), so the only error is the rounding of the weights. This is the
    deployment form that `--onebit-int8-weights` gives the full-precision
    linear layers a OneBit model keeps (the logits layer): 8.06 bits per
    weight instead of 32.

    Example:

    ```mlir
    %y = onebit.int8_linear %x, %w, %s
           : (tensor<1x1x576xf32>, tensor<49152x576xi8>, tensor<49152xf32>)
             -> tensor<1x1x49152xf32>
    ```
  }];
  let arguments = (ins
    OneBit_FloatTensor:$input,
    2DTensorOf<[I8]>:$weights,
    1DTensorOf<[F32]>:$scales,
    Optional<OneBit_FloatVector>:$bias);
  let results = (outs OneBit_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weights `,` $scales (`bias` $bias^)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Input features (K): the column count of `weights`.
    int64_t getInFeatures() { return getWeights().getType().getDimSize(1); }
    /// Output features (N): the row count of `weights`.
    int64_t getOutFeatures() { return getWeights().getType().getDimSize(0); }
  }];
}

#endif // ONEBIT_DIALECT_ONEBIT_IR_ONEBITOPS_TD
