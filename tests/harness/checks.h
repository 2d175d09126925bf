/* Helpers that the family test files share: a tensor slot by name,
 * one-shot cases, failure messages, and the checks every op with optional
 * outputs or parameter gradients gets. */
#ifndef ZK_TESTS_CHECKS_H
#define ZK_TESTS_CHECKS_H

#include "harness.h"

/* The descriptor slot of the tensor called name; -1 when there is none. */
int zk_slot(const zk_op_test *t, const char *name);

/* A compact or strided case of t (no alias, nothing absent); 0 on
 * success, else msg says why. */
int zk_setup_case(zk_case *c, const zk_op_test *t, zk_backend be, zk_dtype dt, zk_dtype pdt, int64_t R, int64_t D,
                  int strided, uint64_t seed, char *msg, size_t cap);

/* One checked case: init, run, reference, tolerance check, free.  0 = pass. */
int zk_check_case(const zk_op_test *t, zk_ctx *ctx, zk_backend be, zk_dtype dt, zk_dtype pdt, int64_t R, int64_t D,
                  int strided, uint64_t seed, char *msg, size_t cap);

/* zk_case_init and zk_case_run_checked, keeping the case for further
 * checks: the caller frees it, whatever the result.  0 = pass. */
int zk_run_case_kept(const zk_op_test *t, zk_ctx *ctx, const zk_case_opts *o, zk_case *c, char *msg, size_t cap);

/* Writes "op dtype R=.. D=..: name[r,c] = value: why" to msg; returns 1. */
int zk_fail_at(char *msg, size_t cap, const zk_case *c, int k, int64_t i, const char *why);

/* Each output of t computed on its own (the other outputs NULL) is right,
 * and all of them NULL is a successful no-op.  0 = pass. */
int zk_check_outputs_alone(const zk_op_test *t, zk_ctx *ctx, zk_backend be, zk_dtype dt, zk_dtype pdt, int64_t R,
                           int64_t D, int strided, uint64_t seed, char *msg, size_t cap);

/* No rows (with output slot `absent` NULL; -1: none): every [D] output is
 * still written, as exactly 0 (spec §0).  0 = pass. */
int zk_check_no_rows_zero_vectors(const zk_op_test *t, zk_ctx *ctx, zk_backend be, zk_dtype dt, zk_dtype pdt,
                                  int64_t D, int absent, char *msg, size_t cap);

/* 1 when backend be implements op (extras skip the ops a backend lacks:
 * the unsupported test covers those). */
int zk_op_supported(const char *op, zk_backend be);

/* On cuda: the case o run on a CPU context and on ctx (cuda) from the same
 * inputs passes its checks on both and gives the same bits in every output
 * (NaN equal to NaN): the cross-backend check of the spec's *bitwise*
 * kernels.  Vacuous on the CPU backend (nothing to compare with).  0 = pass. */
int zk_check_cpu_equals_cuda(const zk_op_test *t, zk_ctx *ctx, const zk_case_opts *o, char *msg, size_t cap);

#endif
