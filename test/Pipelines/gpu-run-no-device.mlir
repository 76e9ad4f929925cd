// onebit-run --device=cuda loads the CUDA driver with dlopen; without a
// driver or a GPU (this test's usual machine) it stops with a clear message
// and a non-zero exit. On a machine with a GPU, running models is not wired
// into onebit-run yet, which it says as clearly.
// RUN: not onebit-run %onebit_src_root/examples/tiny-decoder-block.mlir --device=cuda 2>&1 | FileCheck %s
// CHECK: onebit-run: error: --device=cuda: {{no CUDA driver/GPU found \(.+\)|a CUDA driver and GPU are present}}
// RUN: not onebit-run %onebit_src_root/examples/tiny-decoder-block.mlir --device=tpu 2>&1 | FileCheck %s --check-prefix=BAD
// BAD: onebit-run: error: --device must be cpu, cuda or gpu-emulation, not 'tpu'
