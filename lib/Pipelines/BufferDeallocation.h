//===- BufferDeallocation.h - shared deallocation passes --------*- C++ -*-===//
//
// Upstream's buffer-deallocation-pipeline, pass by pass, with
// onebit-free-after-last-use before buffer-deallocation-simplification: the
// temporaries of straight-line code are freed after their last use, and the
// (quadratic) simplification sees almost nothing left. Shared by the CPU and
// GPU pipelines (in the GPU one it is a formatv argument, so its braces are
// not read as placeholders).
//
//===----------------------------------------------------------------------===//

#ifndef ONEBIT_LIB_PIPELINES_BUFFERDEALLOCATION_H
#define ONEBIT_LIB_PIPELINES_BUFFERDEALLOCATION_H

#define ONEBIT_BUFFER_DEALLOCATION_PASSES                                      \
  "expand-realloc{emit-deallocs=false},"                                       \
  "canonicalize,"                                                              \
  "ownership-based-buffer-deallocation,"                                       \
  "canonicalize,"                                                              \
  "func.func(onebit-free-after-last-use),"                                     \
  "buffer-deallocation-simplification,"                                        \
  "bufferization-lower-deallocations,"                                         \
  "cse,"                                                                       \
  "canonicalize,"

#endif // ONEBIT_LIB_PIPELINES_BUFFERDEALLOCATION_H
