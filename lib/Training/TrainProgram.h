//===- TrainProgram.h - the trainer's MLIR programs -------------*- C++ -*-===//
//
// Internal to lib/Training. The MLIR side of a run: the teacher loaded with
// static token ids, the train step built from it (--onebit-quantize,
// --onebit-build-train-step), the packed student written at the end
// (--onebit-pack-trained) and the size report.
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_LIB_TRAINING_TRAINPROGRAM_H
#define ONEBIT_LIB_TRAINING_TRAINPROGRAM_H

#include "onebit/Support/DiagnosticCapture.h"
#include "onebit/Support/Npy.h"
#include "onebit/Training/Trainer.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <cstdint>
#include <string>
#include <vector>

namespace onebit {

/// The FP teacher with static token ids [batch, seqLen] and logits
/// [batch, seqLen, vocab] from its one public function.
struct Teacher {
  mlir::OwningOpRef<mlir::ModuleOp> module;
  /// A GGUF teacher that generates gen:N data: its KV-cache entries
  /// (@prefill, @decode, one sequence at a time), imported with it and moved
  /// into their own module. They read the same weight constants as `module`
  /// (no second copy); null for other teachers and data.
  mlir::OwningOpRef<mlir::ModuleOp> generator;
  std::string function;
  int64_t batch = 0, seqLen = 0, vocab = 0;
};

/// Loads TrainOptions::teacherPath through the model loader, with the token
/// shape from `options` where the file leaves it dynamic, and checks its
/// form and that options.batch / options.seqLen (when set) match it. A GGUF
/// teacher keeps its F16 linear weights in f16 (TrainOptions::f16Teacher)
/// and, for gen:N data, comes with its KV-cache entries (Teacher::generator).
/// `diags` collects the context's errors.
bool loadTeacher(mlir::MLIRContext &ctx, const DiagnosticCapture &diags,
                 const TrainOptions &options, Teacher &teacher,
                 TrainError &error);

/// Whether a GGUF teacher's F16 linear weights stay f16 for `options`
/// (TrainOptions::f16Teacher, on the CPU, without a trainable head).
bool useF16Teacher(const TrainOptions &options);

/// The train step module (@F_train_step, @F_train_init, @F_student,
/// @F_kd_loss) built from a copy of the teacher; with `splitUpdate` also
/// the public @F_kd_loss_grad and @F_apply_update of data-parallel runs.
/// `mseTaps` describes the hidden states L_MSE compares ("" when none,
/// alpha 0).
mlir::OwningOpRef<mlir::ModuleOp>
buildTrainStep(const Teacher &teacher, const TrainOptions &options,
               bool splitUpdate, const DiagnosticCapture &diags,
               std::string &mseTaps, TrainError &error);

/// The initial parameters @F_train_init returns, read from its constants
/// (so that it need not be compiled: its constants would be copied into
/// the JIT's memory for one call). False when a result is not an f32
/// constant; then nothing is filled and the caller runs the function.
bool readTrainInit(mlir::ModuleOp step, const std::string &function,
                   std::vector<std::string> &names,
                   std::vector<HostTensor> &values);

/// Erases every function of `module` but @`function` and what it calls.
void keepOnlyFunction(mlir::ModuleOp module, const std::string &function);

/// Frees the data of every dense_resource blob of `ctx` that no op of the
/// `keep` modules refers to (the weights of modules already compiled and
/// destroyed, or whose data is no longer read); returns the bytes freed.
/// Attributes that still name a freed blob keep their type but have no
/// data (getRawConstant fails on them).
size_t releaseUnusedConstants(mlir::MLIRContext &ctx,
                              llvm::ArrayRef<mlir::ModuleOp> keep);

/// Rewrites `program` (a copy of the train step module) into the packed
/// 1-bit model: @F_student with the trained `params` (named `names`) as
/// constants, renamed @F, packed by --onebit-pack-trained. The parameters'
/// data move into the model's constants (`params` is left empty).
bool packStudent(mlir::ModuleOp program, const std::string &function,
                 const std::vector<std::string> &names,
                 std::vector<HostTensor> &params,
                 const DiagnosticCapture &diags, std::string &error);

/// Writes `module` as bytecode through a temporary file and a rename.
bool writeModel(mlir::ModuleOp module, const std::string &path,
                std::string &error);

/// The teacher's constant bits and FP values, for TrainSizeReport (types
/// only: it reads no constant data).
void measureTeacher(const Teacher &teacher, double &fpBits, double &fpParams);

/// Sizes of the packed model's constants, and of the packed model after
/// --onebit-int8-weights; `fpBits` / `fpParams` are the teacher's
/// (measureTeacher).
TrainSizeReport measureSizes(double fpBits, double fpParams,
                             mlir::ModuleOp packed);

} // namespace onebit

#endif // ONEBIT_LIB_TRAINING_TRAINPROGRAM_H
