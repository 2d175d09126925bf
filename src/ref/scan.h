/* float64 reference of the scan family (spec §18): the oracle. */
#ifndef ZK_REF_SCAN_H
#define ZK_REF_SCAN_H
#include <stdint.h>

/* x [R, D] -> y [R, D]: prefix sums (Σ_{i<=j}; exclusive Σ_{i<j}; reverse
 * from the end), and yabs = the same sums of |x| (the ACC term). */
void zk_ref_cumsum(const double *x, double *y, double *yabs, int64_t R, int64_t D, int exclusive, int reverse);
/* The VJP: dx = the cumsum of dy with the direction reversed. */
void zk_ref_cumsum_grad(const double *dy, double *dx, double *dxabs, int64_t R, int64_t D, int exclusive,
                        int reverse);

#endif
