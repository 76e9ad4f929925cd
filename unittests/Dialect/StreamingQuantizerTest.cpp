//===- StreamingQuantizerTest.cpp - the quantize rewrite in steps ---------===//
//
// What the lit tests of onebit-translate --quantize cannot see: which layers
// a step takes while a function is still being built, and that a rewritten
// weight's data is released.
//
//===----------------------------------------------------------------------===//

#include "onebit/Dialect/OneBit/IR/OneBit.h"
#include "onebit/Dialect/OneBit/Transforms/Quantize.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinDialect.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"

#include "llvm/ADT/StringExtras.h"

#include <gtest/gtest.h>

#include <vector>

using namespace mlir;

namespace {

/// Three 8x8 layers x @ W (K x N); the weights are heap dense_resources.
const char *kModel = R"mlir(
func.func @main(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %zero = arith.constant 0.0 : f32
  %w0 = arith.constant dense_resource<layers.0.w> : tensor<8x8xf32>
  %w1 = arith.constant dense_resource<layers.1.w> : tensor<8x8xf32>
  %w2 = arith.constant dense_resource<lm_head.weight> : tensor<8x8xf32>
  %e = tensor.empty() : tensor<2x8xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x8xf32>) -> tensor<2x8xf32>
  %y0 = linalg.matmul ins(%x, %w0 : tensor<2x8xf32>, tensor<8x8xf32>) outs(%f : tensor<2x8xf32>) -> tensor<2x8xf32>
  %y1 = linalg.matmul ins(%y0, %w1 : tensor<2x8xf32>, tensor<8x8xf32>) outs(%f : tensor<2x8xf32>) -> tensor<2x8xf32>
  %y2 = linalg.matmul ins(%y1, %w2 : tensor<2x8xf32>, tensor<8x8xf32>) outs(%f : tensor<2x8xf32>) -> tensor<2x8xf32>
  return %y2 : tensor<2x8xf32>
}
)mlir";

struct Model {
  MLIRContext ctx;
  OwningOpRef<ModuleOp> module;
  SmallVector<DenseResourceElementsAttr> weights;

  Model() {
    ctx.loadDialect<arith::ArithDialect, func::FuncDialect,
                    linalg::LinalgDialect, tensor::TensorDialect,
                    onebit::OneBitDialect>();
    // The weights' data, as the text's resource section (hex, after the
    // 4-byte alignment).
    std::string text = kModel;
    text += "{-#\n  dialect_resources: {\n    builtin: {\n";
    int n = 0;
    for (const char *name : {"layers.0.w", "layers.1.w", "lm_head.weight"}) {
      std::vector<float> w(64);
      for (int i = 0; i < 64; ++i)
        w[i] = (i % 3 == 0 ? -1.0f : 1.0f) * (0.5f + 0.1f * n + 0.01f * i);
      std::string hex = "04000000";
      for (float v : w) {
        const auto *p = reinterpret_cast<const unsigned char *>(&v);
        for (int j = 0; j < 4; ++j)
          hex += llvm::hexdigit(p[j] >> 4), hex += llvm::hexdigit(p[j] & 15);
      }
      text += "      " + std::string(name) + ": \"0x" + hex + "\"" +
              (n < 2 ? ",\n" : "\n");
      ++n;
    }
    text += "    }\n  }\n#-}\n";
    module = parseSourceString<ModuleOp>(text, ParserConfig(&ctx));
    if (!module)
      return;
    module->walk([&](arith::ConstantOp c) {
      if (auto r = dyn_cast<DenseResourceElementsAttr>(c.getValue()))
        weights.push_back(r);
    });
  }

  unsigned count(StringRef opName) {
    unsigned n = 0;
    module->walk(
        [&](Operation *op) { n += op->getName().getStringRef() == opName; });
    return n;
  }

  static bool released(DenseResourceElementsAttr a) {
    AsmResourceBlob *blob = a.getRawHandle().getBlob();
    return !blob || blob->getData().empty();
  }
};

TEST(StreamingQuantizer, StepsTakeOnlyFinishedLayersAndReleaseThem) {
  Model m;
  onebit::QuantizeConfig config;
  config.releaseWeights = true;
  auto q = onebit::StreamingQuantizer::create(*m.module, config);
  ASSERT_TRUE(succeeded(q));

  ASSERT_TRUE(m.module);
  ASSERT_EQ(m.weights.size(), 3u);
  // The function as an importer has it while building: no terminator yet.
  auto func = *m.module->getOps<func::FuncOp>().begin();
  Operation *ret = func.getBody().back().getTerminator();
  Value result = ret->getOperand(0);
  ret->erase();
  ASSERT_TRUE(succeeded((*q)->step(*m.module, /*final=*/false)));
  // The two layers are rewritten and their data released; the one named
  // like the head waits for the final step, which keeps it.
  EXPECT_EQ(m.count("onebit.binary_linear"), 2u);
  EXPECT_EQ(m.count("linalg.matmul"), 1u);
  EXPECT_TRUE(Model::released(m.weights[0]));
  EXPECT_TRUE(Model::released(m.weights[1]));
  OpBuilder b = OpBuilder::atBlockEnd(&func.getBody().back());
  func::ReturnOp::create(b, func.getLoc(), result);
  ASSERT_TRUE(succeeded((*q)->step(*m.module, /*final=*/true)));
  EXPECT_EQ(m.count("linalg.matmul"), 1u);
  EXPECT_FALSE(Model::released(m.weights[2]));
  EXPECT_TRUE(succeeded(verify(*m.module)));

  onebit::QuantizeReport r = (*q)->finish(*m.module);
  ASSERT_EQ(r.quantized.size(), 2u);
  EXPECT_EQ(r.quantized[0].name, "layers.0.w");
  ASSERT_EQ(r.skipped.size(), 1u);
  EXPECT_EQ(r.skipped[0].reason, "head");
  // Three 8x8 f32 weights before; after, the head, two 8x8 sign tensors
  // (8 x 1 i32) and two g and h of 8 f32.
  EXPECT_EQ(r.constantBytesBefore, 3 * 64 * 4);
  EXPECT_EQ(r.constantBytesAfter, 64 * 4 + 2 * (8 * 4 + 2 * 8 * 4));
}

TEST(StreamingQuantizer, WithoutReleaseTheDataStays) {
  Model m;
  onebit::QuantizeConfig config;
  auto q = onebit::StreamingQuantizer::create(*m.module, config);
  ASSERT_TRUE(succeeded(q));
  ASSERT_TRUE(m.module);
  ASSERT_TRUE(succeeded((*q)->step(*m.module, /*final=*/true)));
  EXPECT_EQ(m.count("onebit.binary_linear"), 2u);
  EXPECT_FALSE(Model::released(m.weights[0]));
}

TEST(StreamingQuantizer, BadOptionsAreRefused) {
  Model m;
  onebit::QuantizeConfig config;
  config.valueType = "bf16";
  std::string message;
  ScopedDiagnosticHandler h(&m.ctx, [&](Diagnostic &d) {
    message = d.str();
    return success();
  });
  EXPECT_TRUE(failed(onebit::StreamingQuantizer::create(*m.module, config)));
  EXPECT_NE(message.find("unknown value-type 'bf16'"), std::string::npos);
}

} // namespace
