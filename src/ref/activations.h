/* float64 reference of the activations family (spec §1): the oracle.
 *
 * Every function is elementwise over n values.  Forwards: x [n] -> y [n],
 * y = f(x).  Grads: x, dy [n] -> dx [n], dx = dy·f'(x).  s holds the op's
 * scalars in the order of its public signature (softplus: beta, threshold;
 * elu: alpha); ops without scalars ignore it (NULL is fine). */
#ifndef ZK_REF_ACTIVATIONS_H
#define ZK_REF_ACTIVATIONS_H
#include <stdint.h>

#define ZK_REF_ACT_FWD(name) void zk_ref_##name(const double *x, double *y, int64_t n, const double *s);
#define ZK_REF_ACT_GRAD(name) \
  void zk_ref_##name##_grad(const double *x, const double *dy, double *dx, int64_t n, const double *s);

ZK_REF_ACT_FWD(exp)
ZK_REF_ACT_FWD(log)
ZK_REF_ACT_FWD(tanh)
ZK_REF_ACT_FWD(sigmoid)
ZK_REF_ACT_FWD(relu)
ZK_REF_ACT_FWD(silu)
ZK_REF_ACT_FWD(gelu_tanh)
ZK_REF_ACT_FWD(softplus)
ZK_REF_ACT_FWD(mish)
ZK_REF_ACT_FWD(elu)

ZK_REF_ACT_GRAD(exp)
ZK_REF_ACT_GRAD(tanh)
ZK_REF_ACT_GRAD(sigmoid)
ZK_REF_ACT_GRAD(relu)
ZK_REF_ACT_GRAD(silu)
ZK_REF_ACT_GRAD(gelu_tanh)
ZK_REF_ACT_GRAD(softplus)
ZK_REF_ACT_GRAD(mish)
ZK_REF_ACT_GRAD(elu)

#undef ZK_REF_ACT_FWD
#undef ZK_REF_ACT_GRAD

#endif
