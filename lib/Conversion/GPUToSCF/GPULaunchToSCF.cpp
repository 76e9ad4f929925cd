//===- GPULaunchToSCF.cpp - gpu.launch kernels as host loops --------------===//
//
// SIMT emulation of a gpu.launch on the host (see the pass description in
// Passes.td). The body of each launch is split at its synchronisation points
// (gpu.barrier, gpu.shuffle, nvgpu.mma.sync, loops containing them) into
// phases; each phase
// becomes one loop over the block's threads. Values that cross phases are
// either thread-independent (hoisted to block level) or kept in per-thread
// arrays.
//
//===----------------------------------------------------------------------===//

#include "onebit/Conversion/GPUToSCF/GPUToSCF.h"

#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/SetVector.h"

namespace onebit {
#define GEN_PASS_DEF_CONVERTGPULAUNCHTOSCF
#include "onebit/Conversion/Passes.h.inc"
} // namespace onebit

using namespace mlir;

namespace {

constexpr int64_t kWarp = 32;

std::string typeString(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t;
  return s;
}

/// Whether per-thread copies of a value of `type` can live in a memref.
bool canKeepPerThread(Type type) {
  return MemRefType::isValidElementType(type) && !isa<BaseMemRefType>(type);
}

/// Ops every thread of a warp (or block) must reach before any goes on.
bool isSync(Operation *op) {
  return isa<gpu::BarrierOp, gpu::ShuffleOp, nvgpu::MmaSyncOp>(op);
}

bool containsSync(Operation *op) {
  return op->walk([](Operation *o) {
               return isSync(o) ? WalkResult::interrupt()
                                : WalkResult::advance();
             })
      .wasInterrupted();
}

/// Emulates one gpu.launch. `b` always points at "block level": inside the
/// per-block body, outside any thread loop.
class LaunchEmulator {
public:
  explicit LaunchEmulator(gpu::LaunchOp launch)
      : launch(launch), b(launch), loc(launch.getLoc()),
        allocBuilder(launch) {}

  LogicalResult run();

private:
  gpu::LaunchOp launch;
  OpBuilder b;
  Location loc;
  int64_t dims[3] = {1, 1, 1};
  int64_t numThreads = 1;
  /// Block-level values: launch arguments other than thread ids, hoisted
  /// thread-independent ops, induction variables of synchronising loops.
  IRMapping uni;
  /// Values kept in per-thread arrays (memref<numThreads x T>).
  DenseMap<Value, Value> spill;
  DenseMap<Operation *, bool> uniformOps;
  /// Buffers (workgroup memory, per-thread arrays) are allocated once before
  /// the grid loops, reused by every block, and freed after them.
  OpBuilder allocBuilder;
  SmallVector<Value> buffers;
  /// Block ids and grid sizes at block level.
  Value blockIds[3], gridSizes[3];

  bool isThreadId(Value v) {
    auto arg = dyn_cast<BlockArgument>(v);
    if (!arg || arg.getOwner() != &launch.getBody().front())
      return false;
    gpu::KernelDim3 t = launch.getThreadIds();
    return v == t.x || v == t.y || v == t.z;
  }

  bool isUniform(Value v);
  Value allocArray(Type type);
  /// One thread loop storing each thread's `vals` into `arrays`.
  void storePerThread(ValueRange vals, ArrayRef<Value> arrays);
  Value resolve(OpBuilder &tb, Value v, Value tid, Value tids[3]);
  void threadLoop(
      function_ref<void(OpBuilder &, Value tid, Value tids[3])> body);
  LogicalResult transformBlock(Block &block);
  LogicalResult flush(Block &block, SmallVectorImpl<Operation *> &seg);
  LogicalResult emitShuffle(gpu::ShuffleOp op);
  LogicalResult emitMma(nvgpu::MmaSyncOp op);
  /// The per-thread array holding `v` (stored now if it was not kept yet).
  Value perThreadArray(Value v);
  LogicalResult emitSyncFor(scf::ForOp op);
  LogicalResult fail(Operation *op, const Twine &why) {
    return op->emitOpError() << "cannot be emulated on the host: " << why;
  }
  /// The block-level value of a thread-independent gpu query op, or null.
  Value queryValue(OpBuilder &ob, Operation *op) {
    if (auto t = dyn_cast<gpu::BlockIdOp>(op))
      return blockIds[static_cast<unsigned>(t.getDimension())];
    if (auto t = dyn_cast<gpu::GridDimOp>(op))
      return gridSizes[static_cast<unsigned>(t.getDimension())];
    if (auto t = dyn_cast<gpu::BlockDimOp>(op))
      return arith::ConstantIndexOp::create(
          ob, loc, dims[static_cast<unsigned>(t.getDimension())]);
    return Value();
  }
};

bool LaunchEmulator::isUniform(Value v) {
  if (uni.contains(v))
    return true;
  if (!launch.getBody().isAncestor(v.getParentRegion()))
    return true; // defined outside the launch
  if (isa<BlockArgument>(v))
    return false; // thread ids, loop-carried values, nested loop ivs
  Operation *op = v.getDefiningOp();
  auto it = uniformOps.find(op);
  if (it != uniformOps.end())
    return it->second;
  bool u;
  if (isa<gpu::BlockIdOp, gpu::GridDimOp, gpu::BlockDimOp>(op))
    u = true;
  else if (op->getDialect() == launch->getDialect() ||
           isa<nvgpu::MmaSyncOp>(op) || op->getNumRegions() ||
           !isMemoryEffectFree(op))
    u = false; // thread ids, shuffles, loads, ops with bodies
  else
    u = llvm::all_of(op->getOperands(), [&](Value o) { return isUniform(o); });
  uniformOps[op] = u;
  return u;
}

Value LaunchEmulator::allocArray(Type type) {
  Value buf = memref::AllocOp::create(allocBuilder, loc,
                                      MemRefType::get({numThreads}, type));
  buffers.push_back(buf);
  return buf;
}

void LaunchEmulator::storePerThread(ValueRange vals, ArrayRef<Value> arrays) {
  if (vals.empty())
    return;
  threadLoop([&](OpBuilder &tb, Value tid, Value tids[3]) {
    // Every value is read before any is stored: a loop's yield may pass one
    // carried value on as another.
    SmallVector<Value> now;
    for (Value v : vals)
      now.push_back(resolve(tb, v, tid, tids));
    for (auto [v, a] : llvm::zip(now, arrays))
      memref::StoreOp::create(tb, loc, v, a, ValueRange{tid});
  });
}

Value LaunchEmulator::resolve(OpBuilder &tb, Value v, Value tid,
                              Value tids[3]) {
  if (Value u = uni.lookupOrNull(v))
    return u;
  if (isThreadId(v)) {
    gpu::KernelDim3 t = launch.getThreadIds();
    return v == t.x ? tids[0] : v == t.y ? tids[1] : tids[2];
  }
  auto it = spill.find(v);
  if (it != spill.end())
    return memref::LoadOp::create(tb, loc, it->second, ValueRange{tid});
  return v; // defined outside the launch
}

void LaunchEmulator::threadLoop(
    function_ref<void(OpBuilder &, Value, Value[3])> body) {
  Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
  Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
  Value cT = arith::ConstantIndexOp::create(b, loc, numThreads);
  auto loop = scf::ForOp::create(b, loc, c0, cT, c1);
  OpBuilder tb(loop.getBody(), loop.getBody()->begin());
  Value tid = loop.getInductionVar();
  // tid = x + y * bx + z * bx * by.
  Value tids[3] = {tid, c0, c0};
  if (dims[1] * dims[2] > 1) {
    Value bx = arith::ConstantIndexOp::create(tb, loc, dims[0]);
    Value by = arith::ConstantIndexOp::create(tb, loc, dims[1]);
    tids[0] = arith::RemUIOp::create(tb, loc, tid, bx);
    Value yz = arith::DivUIOp::create(tb, loc, tid, bx);
    tids[1] = arith::RemUIOp::create(tb, loc, yz, by);
    tids[2] = arith::DivUIOp::create(tb, loc, yz, by);
  }
  body(tb, tid, tids);
}

LogicalResult LaunchEmulator::flush(Block &block,
                                    SmallVectorImpl<Operation *> &seg) {
  if (seg.empty())
    return success();
  llvm::SmallPtrSet<Operation *, 16> inSeg(seg.begin(), seg.end());
  auto internal = [&](Value v) {
    Operation *def = v.getDefiningOp();
    if (!def)
      def = cast<BlockArgument>(v).getOwner()->getParentOp();
    Operation *anc = block.findAncestorOpInBlock(*def);
    return anc && inSeg.contains(anc);
  };
  llvm::SetVector<Value> external;
  for (Operation *op : seg)
    op->walk([&](Operation *o) {
      for (Value v : o->getOperands())
        if (!internal(v))
          external.insert(v);
    });
  LogicalResult result = success();
  threadLoop([&](OpBuilder &tb, Value tid, Value tids[3]) {
    IRMapping local;
    for (Value v : external)
      local.map(v, resolve(tb, v, tid, tids));
    for (Operation *op : seg) {
      if (auto t = dyn_cast<gpu::ThreadIdOp>(op)) {
        local.map(t.getResult(), tids[static_cast<unsigned>(t.getDimension())]);
      } else {
        if (op->getDialect() == launch->getDialect()) {
          result = fail(op, "'" + op->getName().getStringRef() +
                                "' is not supported");
          return;
        }
        Operation *copy = tb.clone(*op, local);
        // gpu queries nested in the copy.
        SmallVector<Operation *> gpuOps;
        copy->walk([&](Operation *o) {
          if (o->getDialect() == launch->getDialect())
            gpuOps.push_back(o);
        });
        for (Operation *o : gpuOps) {
          OpBuilder ob(o);
          Value repl = queryValue(ob, o);
          if (auto t = dyn_cast<gpu::ThreadIdOp>(o))
            repl = tids[static_cast<unsigned>(t.getDimension())];
          if (!repl) {
            result = fail(op, "'" + o->getName().getStringRef() +
                                  "' is not supported");
            return;
          }
          o->getResult(0).replaceAllUsesWith(repl);
          o->erase();
        }
      }
      for (Value r : op->getResults()) {
        bool escapes = llvm::any_of(r.getUsers(), [&](Operation *user) {
          Operation *anc = block.findAncestorOpInBlock(*user);
          return !anc || !inSeg.contains(anc);
        });
        if (!escapes)
          continue;
        if (!canKeepPerThread(r.getType())) {
          result = fail(op, "a value of type " +
                                typeString(r.getType()) +
                                " computed per thread is used across a "
                                "barrier or shuffle");
          return;
        }
        Value arr = allocArray(r.getType());
        memref::StoreOp::create(tb, loc, local.lookup(r), arr,
                                ValueRange{tid});
        spill[r] = arr;
      }
    }
  });
  seg.clear();
  return result;
}

Value LaunchEmulator::perThreadArray(Value v) {
  if (auto it = spill.find(v); it != spill.end())
    return it->second;
  // Not kept yet (a thread id, or the same for every thread).
  Value arr = allocArray(v.getType());
  storePerThread(v, arr);
  return arr;
}

LogicalResult LaunchEmulator::emitShuffle(gpu::ShuffleOp op) {
  Value src = op.getValue();
  Value arr = perThreadArray(src);
  Value resArr = allocArray(src.getType());
  Value validArr = allocArray(b.getI1Type());
  threadLoop([&](OpBuilder &tb, Value tid, Value tids[3]) {
    auto idx = [&](Value v) {
      return arith::IndexCastUIOp::create(tb, loc, tb.getIndexType(), v)
          .getResult();
    };
    auto cst = [&](int64_t v) {
      return arith::ConstantIndexOp::create(tb, loc, v).getResult();
    };
    Value off = idx(resolve(tb, op.getOffset(), tid, tids));
    Value width = idx(resolve(tb, op.getWidth(), tid, tids));
    Value lane = arith::RemUIOp::create(tb, loc, tid, cst(kWarp));
    Value warpBase = arith::SubIOp::create(tb, loc, tid, lane);
    Value inSeg = arith::RemUIOp::create(tb, loc, lane, width);
    Value segBase = arith::SubIOp::create(tb, loc, lane, inSeg);
    Value srcLane, valid;
    using P = arith::CmpIPredicate;
    switch (op.getMode()) {
    case gpu::ShuffleMode::XOR:
      srcLane = arith::XOrIOp::create(tb, loc, inSeg, off);
      valid = arith::CmpIOp::create(tb, loc, P::ult, srcLane, width);
      break;
    case gpu::ShuffleMode::DOWN:
      srcLane = arith::AddIOp::create(tb, loc, inSeg, off);
      valid = arith::CmpIOp::create(tb, loc, P::ult, srcLane, width);
      break;
    case gpu::ShuffleMode::UP:
      valid = arith::CmpIOp::create(tb, loc, P::uge, inSeg, off);
      srcLane = arith::SubIOp::create(tb, loc, inSeg, off);
      break;
    case gpu::ShuffleMode::IDX:
      srcLane = off;
      valid = arith::CmpIOp::create(tb, loc, P::ult, srcLane, width);
      break;
    }
    Value srcTid = arith::AddIOp::create(
        tb, loc, arith::AddIOp::create(tb, loc, warpBase, segBase), srcLane);
    // A partial last warp: lanes past the block are invalid too.
    valid = arith::AndIOp::create(
        tb, loc, valid,
        arith::CmpIOp::create(tb, loc, P::ult, srcTid, cst(numThreads)));
    srcTid = arith::SelectOp::create(tb, loc, valid, srcTid, tid);
    Value v = memref::LoadOp::create(tb, loc, arr, ValueRange{srcTid});
    memref::StoreOp::create(tb, loc, v, resArr, ValueRange{tid});
    memref::StoreOp::create(tb, loc, valid, validArr, ValueRange{tid});
  });
  spill[op.getShuffleResult()] = resArr;
  spill[op.getValid()] = validArr;
  return success();
}

/// nvgpu.mma.sync m16n8k16, f16 A and B, f32 C and D: each thread computes
/// its own D fragment from the A, B and C fragments its warp's lanes hold,
/// laid out as in the PTX ISA ("Matrix Fragments for mma.m16n8k16 with
/// floating point type"; group g = lane / 4, t = lane % 4):
///   A (16x16, row-major), vector<4x2xf16>: register i, element j holds
///     A[g + 8 * (i % 2), 2t + j + 8 * (i / 2)];
///   B (16x8, k-major), vector<2x2xf16>: register i, element j holds
///     B[2t + j + 8 * i, g];
///   C, D (16x8), vector<2x2xf32>: register i, element j holds
///     C[g + 8 * i, 2t + j].
/// So A[r, k] is in lane 4 * (r % 8) + (k % 8) / 2, register r / 8 +
/// 2 * (k / 8), element k % 2, and B[k, n] in lane 4 * n + (k % 8) / 2,
/// register k / 8, element k % 2. The products of f16 values are exact in
/// f32; they are added to C in order of k.
LogicalResult LaunchEmulator::emitMma(nvgpu::MmaSyncOp op) {
  MLIRContext *ctx = op.getContext();
  Type f16 = Float16Type::get(ctx), f32 = Float32Type::get(ctx);
  auto aType = VectorType::get({4, 2}, f16), bType = VectorType::get({2, 2}, f16);
  auto cType = VectorType::get({2, 2}, f32);
  std::array<int64_t, 3> shape = op.getMmaShapeAsArray();
  if (shape != std::array<int64_t, 3>{16, 8, 16} ||
      op.getMatrixA().getType() != aType ||
      op.getMatrixB().getType() != bType ||
      op.getMatrixC().getType() != cType || op.getTf32Enabled())
    return fail(op, "only mma.sync m16n8k16 with vector<4x2xf16> A, "
                    "vector<2x2xf16> B and vector<2x2xf32> C is emulated");
  if (numThreads % kWarp != 0)
    return fail(op, "mma.sync needs whole warps, the block has " +
                        Twine(numThreads) + " threads");
  Value aArr = perThreadArray(op.getMatrixA());
  Value bArr = perThreadArray(op.getMatrixB());
  Value cArr = perThreadArray(op.getMatrixC());
  Value dArr = allocArray(cType);
  threadLoop([&](OpBuilder &tb, Value tid, Value tids[3]) {
    auto cst = [&](int64_t v) {
      return arith::ConstantIndexOp::create(tb, loc, v).getResult();
    };
    auto add = [&](Value x, Value y) {
      return arith::AddIOp::create(tb, loc, x, y).getResult();
    };
    auto mul = [&](Value x, int64_t c) {
      return arith::MulIOp::create(tb, loc, x, cst(c)).getResult();
    };
    Value lane = arith::RemUIOp::create(tb, loc, tid, cst(kWarp));
    Value warpBase = arith::SubIOp::create(tb, loc, tid, lane);
    Value g = arith::DivUIOp::create(tb, loc, lane, cst(4));
    Value t = arith::RemUIOp::create(tb, loc, lane, cst(4));
    // The fragment of lane `l` of this warp, element [i, j].
    auto fragment = [&](Value arr, Value l, int64_t i, int64_t j) {
      Value v = memref::LoadOp::create(tb, loc, arr,
                                       ValueRange{add(warpBase, l)});
      Value e = vector::ExtractOp::create(tb, loc, v, ArrayRef<int64_t>{i, j});
      return e.getType() == f32 ? e
                                : arith::ExtFOp::create(tb, loc, f32, e)
                                      .getResult();
    };
    Value d = memref::LoadOp::create(tb, loc, cArr, ValueRange{tid});
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 2; ++j) {
        // D[g + 8i, 2t + j] = C[...] + sum_k A[g + 8i, k] B[k, 2t + j].
        Value sum = vector::ExtractOp::create(tb, loc, d,
                                              ArrayRef<int64_t>{i, j});
        Value n = add(mul(t, 2), cst(j));
        for (int64_t k = 0; k < 16; ++k) {
          Value aLane = add(mul(g, 4), cst((k % 8) / 2));
          Value bLane = add(mul(n, 4), cst((k % 8) / 2));
          Value a = fragment(aArr, aLane, i + 2 * (k / 8), k % 2);
          Value bv = fragment(bArr, bLane, k / 8, k % 2);
          sum = arith::AddFOp::create(tb, loc, sum,
                                      arith::MulFOp::create(tb, loc, a, bv));
        }
        d = vector::InsertOp::create(tb, loc, sum, d, ArrayRef<int64_t>{i, j});
      }
    memref::StoreOp::create(tb, loc, d, dArr, ValueRange{tid});
  });
  spill[op.getRes()] = dArr;
  return success();
}

LogicalResult LaunchEmulator::emitSyncFor(scf::ForOp op) {
  for (Value v : {op.getLowerBound(), op.getUpperBound(), op.getStep()})
    if (!isUniform(v))
      return fail(op, "a loop containing gpu.barrier or gpu.shuffle has "
                      "bounds that depend on the thread");
  SmallVector<Value> arrays;
  for (Value init : op.getInitArgs()) {
    if (!canKeepPerThread(init.getType()))
      return fail(op, "a loop carrying a value of type " +
                          typeString(init.getType()) +
                          " contains gpu.barrier or gpu.shuffle");
    arrays.push_back(allocArray(init.getType()));
  }
  storePerThread(op.getInitArgs(), arrays);
  auto loop = scf::ForOp::create(b, loc, uni.lookupOrDefault(op.getLowerBound()),
                                 uni.lookupOrDefault(op.getUpperBound()),
                                 uni.lookupOrDefault(op.getStep()));
  uni.map(op.getInductionVar(), loop.getInductionVar());
  for (auto [arg, a] : llvm::zip(op.getRegionIterArgs(), arrays))
    spill[arg] = a;
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(loop.getBody()->getTerminator());
    if (failed(transformBlock(*op.getBody())))
      return failure();
    storePerThread(op.getBody()->getTerminator()->getOperands(), arrays);
  }
  for (auto [r, a] : llvm::zip(op.getResults(), arrays))
    spill[r] = a;
  return success();
}

LogicalResult LaunchEmulator::transformBlock(Block &block) {
  SmallVector<Operation *> seg;
  for (Operation &op : block.without_terminator()) {
    if (op.getNumRegions() == 0 && op.getNumResults() > 0 &&
        llvm::all_of(op.getResults(),
                     [&](Value r) { return isUniform(r); })) {
      if (Value q = queryValue(b, &op))
        uni.map(op.getResult(0), q);
      else
        b.clone(op, uni);
      continue;
    }
    if (isa<gpu::BarrierOp>(op)) {
      if (failed(flush(block, seg)))
        return failure();
      continue;
    }
    if (auto shuffle = dyn_cast<gpu::ShuffleOp>(op)) {
      if (failed(flush(block, seg)) || failed(emitShuffle(shuffle)))
        return failure();
      continue;
    }
    if (auto mma = dyn_cast<nvgpu::MmaSyncOp>(op)) {
      if (failed(flush(block, seg)) || failed(emitMma(mma)))
        return failure();
      continue;
    }
    if (containsSync(&op)) {
      auto loop = dyn_cast<scf::ForOp>(op);
      if (!loop)
        return fail(&op, "gpu.barrier or gpu.shuffle under '" +
                             op.getName().getStringRef() +
                             "' (only scf.for loops with thread-independent "
                             "bounds may contain them)");
      if (failed(flush(block, seg)) || failed(emitSyncFor(loop)))
        return failure();
      continue;
    }
    seg.push_back(&op);
  }
  return flush(block, seg);
}

LogicalResult LaunchEmulator::run() {
  if (launch.getAsyncToken() || !launch.getAsyncDependencies().empty())
    return fail(launch, "async launches are not supported");
  if (launch.getDynamicSharedMemorySize())
    return fail(launch, "dynamic shared memory is not supported");
  if (!launch.getPrivateAttributions().empty())
    return fail(launch, "private attributions are not supported");
  if (!launch.getBody().hasOneBlock())
    return fail(launch, "the body must be a single block");
  gpu::KernelDim3 bs = launch.getBlockSizeOperandValues();
  Value bsv[3] = {bs.x, bs.y, bs.z};
  for (int d = 0; d < 3; ++d) {
    std::optional<int64_t> c = getConstantIntValue(bsv[d]);
    if (!c || *c < 1)
      return fail(launch, "block sizes must be positive constants");
    dims[d] = *c;
    numThreads *= *c;
  }
  // The grid: sequential loops over block ids, x innermost. Blocks share
  // the buffers, so they must not run concurrently.
  gpu::KernelDim3 gs = launch.getGridSizeOperandValues();
  Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
  Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
  gridSizes[0] = gs.x;
  gridSizes[1] = gs.y;
  gridSizes[2] = gs.z;
  Operation *outer = nullptr;
  for (int d = 2; d >= 0; --d) {
    auto loop = scf::ForOp::create(b, loc, c0, gridSizes[d], c1);
    if (!outer)
      outer = loop;
    b.setInsertionPoint(loop.getBody()->getTerminator());
    blockIds[d] = loop.getInductionVar();
  }
  allocBuilder.setInsertionPoint(outer);
  Block &body = launch.getBody().front();
  gpu::KernelDim3 ids = launch.getBlockIds();
  gpu::KernelDim3 gsz = launch.getGridSize();
  gpu::KernelDim3 bsz = launch.getBlockSize();
  uni.map(ids.x, blockIds[0]);
  uni.map(ids.y, blockIds[1]);
  uni.map(ids.z, blockIds[2]);
  uni.map(gsz.x, gs.x);
  uni.map(gsz.y, gs.y);
  uni.map(gsz.z, gs.z);
  uni.map(bsz.x, bs.x);
  uni.map(bsz.y, bs.y);
  uni.map(bsz.z, bs.z);
  for (BlockArgument wg : launch.getWorkgroupAttributions()) {
    auto t = cast<MemRefType>(wg.getType());
    auto hostType = MemRefType::get(t.getShape(), t.getElementType(),
                                    t.getLayout());
    Value buf = memref::AllocOp::create(allocBuilder, loc, hostType);
    buffers.push_back(buf);
    uni.map(wg, buf);
  }
  if (failed(transformBlock(body)))
    return failure();
  OpBuilder after(outer->getBlock(), std::next(outer->getIterator()));
  for (Value buf : buffers)
    memref::DeallocOp::create(after, loc, buf);
  launch.erase();
  return success();
}

struct ConvertGPULaunchToSCFPass
    : public onebit::impl::ConvertGPULaunchToSCFBase<
          ConvertGPULaunchToSCFPass> {
  void runOnOperation() override {
    SmallVector<gpu::LaunchOp> launches;
    getOperation().walk([&](gpu::LaunchOp l) { launches.push_back(l); });
    for (gpu::LaunchOp l : launches) {
      LaunchEmulator e(l);
      if (failed(e.run()))
        return signalPassFailure();
    }
  }
};

} // namespace
