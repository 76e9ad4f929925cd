//===- OneBitAttrs.td - onebit attributes ------------------*- tablegen -*-===//
//
// The packed sign layout shared by the compiler, the kernels and the writers.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_DIALECT_ONEBIT_IR_ONEBITATTRS_TD
#define ONEBIT_DIALECT_ONEBIT_IR_ONEBITATTRS_TD

include "onebit/Dialect/OneBit/IR/OneBitDialect.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def OneBit_BitOrder : I32EnumAttr<"BitOrder", "order of weights inside a word",
    [I32EnumAttrCase<"lsb_first", 0>, I32EnumAttrCase<"msb_first", 1>]> {
  let cppNamespace = "::onebit";
  let genSpecializedAttr = 0;
}

def OneBit_PackingAttr : AttrDef<OneBit_Dialect, "Packing"> {
  let mnemonic = "packing";
  let summary = "layout of packed 1-bit signs";
  let description = [{
    Describes how an N x K sign matrix S (values -1 and +1) is stored in a
    2-D tensor of integer words `tensor<N x ceil(K / word_bits) x iW>`:

    * rows: row-major, one row of S (one output feature) per tensor row; each
      row starts on a fresh word and its unused tail bits are zero;
    * `word_bits`: bits per word (8, 16, 32 or 64), equal to the element
      width W of the storage tensor;
    * `bit_order`: `lsb_first` puts column `c` of a row into bit `c mod
      word_bits` of word `c / word_bits`; `msb_first` into bit
      `word_bits - 1 - (c mod word_bits)`;
    * `negative`: the bit value (0 or 1) that means -1; the other value means
      +1. A weight of exactly 0 packs as +1.

    The canonical layout, `#onebit.packing<word_bits = 32, bit_order =
    lsb_first, negative = 1>`, is what `--onebit-quantize` produces and the
    kernels read. On a little-endian machine its bytes are identical to the
    OneBit reference packing (8 weights per byte, least-significant bit first,
    bit 1 means -1) with each row padded to a multiple of 4 bytes. An N x K
    layer takes N * ceil(K / 32) * 4 bytes.
  }];
  let parameters = (ins
    "unsigned":$wordBits,
    "::onebit::BitOrder":$bitOrder,
    "unsigned":$negative);
  let assemblyFormat = [{
    `<` `word_bits` `=` $wordBits `,` `bit_order` `=` $bitOrder `,`
        `negative` `=` $negative `>`
  }];
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The layout `--onebit-quantize` emits and every kernel supports.
    static PackingAttr getCanonical(::mlir::MLIRContext *ctx);
    bool isCanonical() const;
    /// The helper-library form of this layout.
    ::onebit::SignLayout toSignLayout() const;
  }];
}

#endif // ONEBIT_DIALECT_ONEBIT_IR_ONEBITATTRS_TD
