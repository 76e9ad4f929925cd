//===- GradReady.cpp - the listener of compiled code's gradient calls -----===//
//
// Per thread: the gradient runs on its caller's thread (its kernels may fan
// out, but its calls here come from the top level of the compiled code), so
// two sessions on two threads never see each other's gradients.
//
//===----------------------------------------------------------------------===//

#include "onebit/Runtime/GradReady.h"

namespace {
thread_local onebit_grad_ready_listener currentListener = nullptr;
thread_local void *currentContext = nullptr;
} // namespace

extern "C" void onebit_runtime_grad_ready(int64_t address) {
  if (currentListener)
    currentListener(currentContext,
                    reinterpret_cast<const void *>(intptr_t(address)));
}

extern "C" void onebit_runtime_set_grad_ready_listener(
    onebit_grad_ready_listener listener, void *context,
    onebit_grad_ready_listener *previous, void **previousContext) {
  if (previous)
    *previous = currentListener;
  if (previousContext)
    *previousContext = currentContext;
  currentListener = listener;
  currentContext = context;
}
