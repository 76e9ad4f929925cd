//===- OneBitDialect.td - the onebit dialect ---------------*- tablegen -*-===//
//
// Declares the `onebit` dialect: 1-bit (sign + value vector) linear layers.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_DIALECT_ONEBIT_IR_ONEBITDIALECT_TD
#define ONEBIT_DIALECT_ONEBIT_IR_ONEBITDIALECT_TD

include "mlir/IR/OpBase.td"

def OneBit_Dialect : Dialect {
  let name = "onebit";
  let cppNamespace = "::onebit";
  let summary = "OneBit 1-bit linear layers: packed signs plus value vectors";
  let description = [{
    The `onebit` dialect represents the linear layers of the OneBit method
    (Xu et al., 2024). A full-precision layer `Y = X W^T` becomes

    ```
    Y = [(X * g) . S^T] * h        S = sign(W) in {-1, +1}, one bit each
    Z = LayerNorm(Y) + bias        (both optional)
    ```

    where `g` (length K, the input features) and `h` (length N, the output
    features) are value vectors. The signs are stored packed, one bit per
    weight, in the layout described by `#onebit.packing`. The dialect works on
    tensors: it is produced by `--onebit-quantize` from linalg-on-tensors IR
    and consumed by the CPU and GPU lowerings.
  }];
  let useDefaultAttributePrinterParser = 1;
  let hasConstantMaterializer = 1;
  let dependentDialects = ["::mlir::arith::ArithDialect"];
  let extraClassDeclaration = [{
    void registerAttributes();
  }];
}

class OneBit_Op<string mnemonic, list<Trait> traits = []>
    : Op<OneBit_Dialect, mnemonic, traits>;

#endif // ONEBIT_DIALECT_ONEBIT_IR_ONEBITDIALECT_TD
