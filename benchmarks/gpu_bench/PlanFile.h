//===- PlanFile.h - gpu_bench: launch plans as files ------------*- C++ -*-===//
//
// What gpu-bench --emit-plan writes and gpu-bench-run reads, so that the
// kernels can be compiled on a machine with MLIR and timed on one with a
// GPU and no MLIR (docs/gpu.md, "The GPU bundle"). A plan set is a folder:
//
//   DIR/plans.txt    "onebit-gpu-plans 1", then one line per plan, in order:
//                    "gemm SUBDIR" (a layer measured alone) or
//                    "model SUBDIR" (a layer kind of the decode model)
//   DIR/SUBDIR/plan.txt   the plan, one record a line (below)
//   DIR/SUBDIR/MODULE.ptx each kernel module's PTX
//
// plan.txt: "onebit-gpu-plan 1", then "name N", "shape M N K",
// "norm_eps E", "seed S", "chip sm_XY", "features F", "compile_s T",
// "model_count C", one "buffer ARG RESULT ELEMENT_BYTES OFFSET RANK SIZES...
// STRIDES..." per buffer (ARG -1: allocated; RESULT 0/1), "result B",
// one "module NAME" per kernel module (its PTX in NAME.ptx), and one
// "launch MODULE KERNEL GX GY GZ BX BY BZ COUNT BUFFERS..." per launch, in
// order. Blank lines and lines starting with '#' are ignored. Plain C++, no
// MLIR or LLVM.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_BENCHMARKS_GPU_BENCH_PLANFILE_H
#define ONEBIT_BENCHMARKS_GPU_BENCH_PLANFILE_H

#include "KernelPlan.h"

#include <string>
#include <vector>

namespace gpubench {

/// Writes one plan to DIR (created if missing); false with `error` set.
bool writePlan(const std::string &dir, const KernelPlan &plan,
               std::string &error);
/// Reads DIR/plan.txt and its PTX files and checks the plan (checkPlan);
/// false with `error` naming the file, line and problem.
bool readPlan(const std::string &dir, KernelPlan &plan, std::string &error);

/// Writes a plan set: each GEMM plan to DIR/MxNxK (DIR/MxNxK-norm with the
/// post-norm), each model plan to DIR/modelI, and DIR/plans.txt.
bool writePlanSet(const std::string &dir, const std::vector<KernelPlan> &gemm,
                  const std::vector<KernelPlan> &model, std::string &error);
/// Reads a plan set written by writePlanSet.
bool readPlanSet(const std::string &dir, std::vector<KernelPlan> &gemm,
                 std::vector<KernelPlan> &model, std::string &error);

} // namespace gpubench

#endif // ONEBIT_BENCHMARKS_GPU_BENCH_PLANFILE_H
