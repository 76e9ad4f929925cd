/*===- GradReady.h - compiled code announces a finished gradient ----------===
 *
 * A data-parallel train step built with grad-ready calls
 * (onebit-build-train-step's `grad-ready-calls`) calls
 * onebit_runtime_grad_ready with the address of a gradient's buffer as soon
 * as that gradient is final, while the backward goes on. The trainer
 * listens on the thread that runs the gradient, and starts all-reducing a
 * bucket of gradients as soon as the bucket is complete (docs/training.md,
 * "All-reduce during the backward"). With no listener the call does
 * nothing, so the same compiled code serves every caller.
 *===----------------------------------------------------------------------===*/

#ifndef ONEBIT_RUNTIME_GRADREADY_H
#define ONEBIT_RUNTIME_GRADREADY_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What compiled code calls: `address` is the aligned start of the buffer
 * whose contents are final. Calls the calling thread's listener, if any. */
void onebit_runtime_grad_ready(int64_t address);

/* A listener: `context` as installed, the address the code passed. */
typedef void (*onebit_grad_ready_listener)(void *context, const void *address);

/* Installs `listener` (null: none) with `context` on the calling thread
 * only; returns the previous listener and its context in `previous` and
 * `previousContext` (either may be null). */
void onebit_runtime_set_grad_ready_listener(
    onebit_grad_ready_listener listener, void *context,
    onebit_grad_ready_listener *previous, void **previousContext);

#ifdef __cplusplus
}
#endif

#endif /* ONEBIT_RUNTIME_GRADREADY_H */
