//===- quantize_bench.cpp - --onebit-quantize at LLaMA-7B layer shapes ----===//
//
// Streams a synthetic LLaMA-7B decoder (random Gaussian weights with per-row
// and per-column scales) through the real --onebit-quantize pass one layer at
// a time, and reports seconds per layer and peak RSS. Usage:
//   quantize-bench [--blocks N] [--init nmf|svd|mean]
//
//===----------------------------------------------------------------------===//

#include "onebit/Dialect/OneBit/IR/OneBit.h"
#include "onebit/Dialect/OneBit/Transforms/Passes.h"
#include "onebit/Dialect/OneBit/Utils/ConstantData.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <random>
#include <sys/resource.h>

using namespace mlir;

static llvm::cl::opt<int> numBlocks("blocks",
                                    llvm::cl::desc("decoder blocks to stream"),
                                    llvm::cl::init(1));
static llvm::cl::opt<std::string> initKind("init",
                                           llvm::cl::desc("nmf, svd or mean"),
                                           llvm::cl::init("nmf"));

static double peakRssMiB() {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;
}

/// One module holding `y = x . W` with W an N x K (torch layout, transposed
/// through indexing maps) f32 dense_resource of random data.
static OwningOpRef<ModuleOp> makeLayer(MLIRContext &ctx, StringRef name,
                                       int64_t n, int64_t k,
                                       std::mt19937 &rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> scale(0.5f, 2.0f);
  std::vector<float> rowScale(n), colScale(k);
  for (float &s : rowScale)
    s = scale(rng);
  for (float &s : colScale)
    s = scale(rng);
  // Filled in place in the blob: no second copy of the weights.
  auto blob = HeapAsmResourceBlob::allocate(n * k * sizeof(float), 64);
  auto *w = reinterpret_cast<float *>(blob.getMutableData().data());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < k; ++j)
      w[i * k + j] = 0.02f * normal(rng) * rowScale[i] * colScale[j];

  OpBuilder b(&ctx);
  Location loc = NameLoc::get(b.getStringAttr(name));
  auto module = ModuleOp::create(loc);
  b.setInsertionPointToEnd(module.getBody());
  auto f32 = b.getF32Type();
  auto xType = RankedTensorType::get({1, k}, f32);
  auto yType = RankedTensorType::get({1, n}, f32);
  auto wType = RankedTensorType::get({n, k}, f32);
  auto func = func::FuncOp::create(b, loc, "layer",
                                   b.getFunctionType({xType}, {yType}));
  Block *body = func.addEntryBlock();
  b.setInsertionPointToEnd(body);
  Value weight = arith::ConstantOp::create(
      b, loc, wType, DenseResourceElementsAttr::get(wType, name, std::move(blob)));
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0));
  Value empty = tensor::EmptyOp::create(b, loc, yType.getShape(), f32);
  Value fill = linalg::FillOp::create(b, loc, zero, empty).getResult(0);
  MLIRContext *c = &ctx;
  AffineExpr m, nn, kk;
  bindDims(c, m, nn, kk);
  auto maps = b.getAffineMapArrayAttr(
      {AffineMap::get(3, 0, {m, kk}, c), AffineMap::get(3, 0, {nn, kk}, c),
       AffineMap::get(3, 0, {m, nn}, c)});
  auto mm = linalg::MatmulOp::create(b, loc, TypeRange{yType},
                                     ValueRange{body->getArgument(0), weight},
                                     ValueRange{fill});
  mm->setAttr("indexing_maps", maps);
  func::ReturnOp::create(b, loc, mm->getResult(0));
  return module;
}

int main(int argc, char **argv) {
  llvm::cl::ParseCommandLineOptions(argc, argv, "onebit quantize benchmark\n");
  struct Shape {
    const char *name;
    int64_t n, k;
  } shapes[] = {{"q_proj", 4096, 4096},    {"k_proj", 4096, 4096},
                {"v_proj", 4096, 4096},    {"o_proj", 4096, 4096},
                {"gate_proj", 11008, 4096}, {"up_proj", 11008, 4096},
                {"down_proj", 4096, 11008}};
  std::mt19937 rng(0);
  double total = 0, params = 0;
  for (int blk = 0; blk < numBlocks; ++blk)
    for (const Shape &s : shapes) {
      // A fresh context per layer: the blob (and everything else) is freed
      // when the layer is done, as a streaming quantizer would do.
      MLIRContext ctx;
      ctx.loadDialect<func::FuncDialect, arith::ArithDialect,
                      tensor::TensorDialect, linalg::LinalgDialect,
                      onebit::OneBitDialect>();
      std::string name = llvm::formatv("layers.{0}.{1}.weight", blk, s.name);
      OwningOpRef<ModuleOp> module = makeLayer(ctx, name, s.n, s.k, rng);
      PassManager pm(&ctx);
      onebit::OneBitQuantizeOptions opts;
      opts.init = initKind;
      opts.keepHead = false;
      opts.printStats = true;
      pm.addPass(onebit::createOneBitQuantize(opts));
      auto t0 = std::chrono::steady_clock::now();
      if (failed(pm.run(*module))) {
        llvm::errs() << "quantize failed on " << name << "\n";
        return 1;
      }
      double sec = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - t0)
                       .count();
      total += sec;
      params += double(s.n) * s.k;
      llvm::outs() << llvm::formatv(
          "quantize {0} {1}x{2} init={3} seconds={4:F3} peak_rss_mib={5:F0}\n",
          name, s.n, s.k, initKind.getValue(), sec, peakRssMiB());
    }
  double largestMiB = 11008.0 * 4096 * 4 / (1 << 20);
  llvm::outs() << llvm::formatv(
      "quantize total layers={0} params={1:F0} seconds={2:F2} "
      "peak_rss_mib={3:F0} largest_layer_mib={4:F0} rss_over_largest={5:F2}\n",
      numBlocks * 7, params, total, peakRssMiB(), largestMiB,
      peakRssMiB() / largestMiB);
  return 0;
}
