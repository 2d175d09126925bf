/* Softmax pieces the attention family shares with the softmax family. */
#ifndef ZK_CPU_SOFTMAX_H
#define ZK_CPU_SOFTMAX_H

#include "cpu.h"

/* e[j] = e^(x[j] - m) for a finite m (e may be x); returns Σe, summed in
 * fixed chunks so that the error stays near 1e-6 for long rows.  partial:
 * zk_cpu_exp_sum_partials(n) floats of scratch. */
float zk_cpu_exp_sum(float *e, const float *x, float m, int64_t n, float *partial);
int64_t zk_cpu_exp_sum_partials(int64_t n);

/* dx = scale·y⊙(dy - Σ dy·y) over rows, slots t[0] = y, t[1] = dy,
 * t[2] = dx (alias dy ok): softmax_grad with scale 1, and the masked
 * softmax grads. */
zk_status zk_cpu_softmax_vjp(zk_ctx *ctx, const zk_call *call, const zk_args *a, float scale);

#endif
