/* float64 reference of the softmax family (spec §2): the oracle. */
#ifndef ZK_REF_SOFTMAX_H
#define ZK_REF_SOFTMAX_H
#include <stdint.h>

/* x [R, D] -> y [R, D]: y = e^(x-m)/Σe^(x-m) per row; an all -Inf row gives
 * 0, a row with a NaN or +Inf gives NaN.  y may be x. */
void zk_ref_softmax(const double *x, double *y, int64_t R, int64_t D);
/* x [R, D] -> y [R, D]: y = (x-m) - log Σe^(x-m); an all -Inf row gives
 * -Inf, a row with a NaN or +Inf gives NaN.  y may be x. */
void zk_ref_log_softmax(const double *x, double *y, int64_t R, int64_t D);
/* y, dy [R, D] -> dx [R, D]: dx = y·(dy - Σ dy·y). */
void zk_ref_softmax_grad(const double *y, const double *dy, double *dx, int64_t R, int64_t D);
/* y, dy [R, D] -> dx [R, D]: dx = dy - e^y·Σ dy; a row whose y is all -Inf gives 0. */
void zk_ref_log_softmax_grad(const double *y, const double *dy, double *dx, int64_t R, int64_t D);

#endif
