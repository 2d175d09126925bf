/* The table-driven test harness (DESIGN §6), shared by the test suite,
 * `zkern check` and `zkern bench`.
 *
 * Each op has a descriptor (zk_op_test): its tensors (role, shape rule,
 * dtype rule, input distribution, tolerance class), how to call it, and
 * its float64 reference.  The harness builds a case for (backend, dtype,
 * R, D, strided): fresh random inputs, NaN-poisoned outputs with poisoned
 * gaps between strided rows, copies to the device where needed, calls the
 * op, compares every output with the reference under the spec's tolerance
 * class, and checks that nothing outside the outputs was written.  Bad-input
 * cases (NULL, dtype, shape, device, layout, and the op's scalar limits)
 * are derived from the same descriptor.
 *
 * A family file tests/<family>_test.c defines its descriptors and extras
 * and exports a zk_family_tests; tests/harness/registry.c lists them. */
#ifndef ZK_TESTS_HARNESS_H
#define ZK_TESTS_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <zkern/zkern.h>
#include "../../src/core/internal.h"

#define ZK_T_MAX 12
#define ZK_DIMS_MAX 6

/* ZK_TOL_ROW_ACC: ROW plus the ACC term racc·S, for row outputs that carry
 * an accumulation's error: a residual added to a row-normalised update
 * (out = h + update: S = |h| + |update|, the f32 error of the update
 * survives where the two cancel), or a normalisation of a GEMM's output
 * (fused_linear_rmsnorm: S carried through the norm).  Its NMSE bound
 * applies to rows of 64 values or more: a shorter row whose value nearly
 * cancels (|z| ~ √eps at N = 1) turns f32 rounding into a large error of
 * one output, which the element bound judges alone. */
typedef enum zk_tol { ZK_TOL_EXACT, ZK_TOL_EW, ZK_TOL_ROW, ZK_TOL_ACC, ZK_TOL_GRAD, ZK_TOL_GRAD_ACC, ZK_TOL_ROW_ACC } zk_tol;
const char *zk_tol_name(zk_tol t);

/* ZK_INOUT: an input the op updates in place (a cache): filled like an
 * input, read back and compared like an output; every element the
 * reference leaves at its input value must come back bit-unchanged. */
typedef enum zk_role { ZK_IN, ZK_OUT, ZK_INOUT } zk_role;

/* A case has R rows of D elements; each tensor's shape follows from them. */
typedef enum zk_shape_rule {
  ZK_SHAPE_ROWS,   /* [R, D] (as [D] when the case is 1-D) */
  ZK_SHAPE_ROWS2,  /* [R, 2D]: gate|up inputs of the gated MLPs */
  ZK_SHAPE_VEC,    /* [D]: a parameter */
  ZK_SHAPE_VEC2,   /* [2D]: the bias of bias_swiglu / bias_geglu */
  ZK_SHAPE_CUSTOM, /* the descriptor's layout hook (N-D tensors) */
  ZK_SHAPE_ROW_VALUE,   /* [R]: one value per row, x.shape[:-1] (0-d when the case is 1-D) */
  ZK_SHAPE_ROW_KEEPDIM, /* [R, 1]: one value per row, keepdim */
  ZK_SHAPE_ROWS_K,      /* [R, K]: K values per row, K = min(D, the descriptor's k scalar) */
  ZK_SHAPE_SCALAR,      /* []: one value for the whole call ([1] when strided) */
} zk_shape_rule;

/* A tensor's shape from the descriptor's layout hook.  The last row_dims
 * dims (0 means 1) form a row (cols = their product, compact); the leading
 * dims are the rows (rows = their product), which a strided case spaces
 * by cols + 13 with consistent leading strides, unless compact. */
typedef struct zk_layout {
  int ndim;
  int64_t dims[ZK_DIMS_MAX];
  int row_dims;
  int compact;    /* never row-strided: the spec's (c) tensors */
  int free_last;  /* any last dim is valid (block_table's MB): the bad-shape case grows dim 0 */
  int any_larger; /* a larger tensor is valid too (unpack_bits' x): no bad-shape case */
} zk_layout;

typedef enum zk_dtype_rule {
  ZK_DT_CASE,   /* the case's activation dtype */
  ZK_DT_PARAM,  /* the case's parameter dtype (any float, independent) */
  ZK_DT_F32,    /* always f32 */
  ZK_DT_INDEX,  /* the case's index dtype: int32, or int64 when index64 */
  ZK_DT_I32,    /* always int32 */
  ZK_DT_U32,    /* always uint32 (argmax / topk indices; compared exactly) */
  ZK_DT_U8,     /* always uint8 (bool masks; DLPack uint8) */
  ZK_DT_I8,     /* always int8 (quantised codes) */
} zk_dtype_rule;

typedef enum zk_dist {
  ZK_DIST_NORMAL,   /* N(0, 1) */
  ZK_DIST_UNIFORM,  /* U(lo, hi) */
  ZK_DIST_CUSTOM,   /* the descriptor's fill hook (required for integer tensors) */
} zk_dist;

typedef struct zk_tensor_spec {
  const char *name;     /* the public parameter name, as messages use it */
  zk_role role;
  zk_shape_rule shape;
  zk_dtype_rule dtype;
  int optional;         /* NULL allowed; tensors sharing a value > 1 are NULL together */
  zk_tol tol;           /* outputs */
  zk_dist dist;         /* inputs */
  double lo, hi;
} zk_tensor_spec;

/* A scalar the op rejects: scalar slot `slot` set to `value` -> `expect`. */
typedef struct zk_bad_scalar {
  int slot;
  double value;
  zk_status expect;
} zk_bad_scalar;

/* The bad-input cases run with R = 3 rows of ZK_BAD_CASE_COLS elements. */
#define ZK_BAD_CASE_COLS 33

struct zk_case;

/* An index input made invalid: element `at` of tensor `slot` (flat, -1 =
 * the last) set to value(c); the call must give ZK_ERR_INDEX. */
typedef struct zk_bad_index {
  int slot;
  int64_t at;
  int64_t (*value)(const struct zk_case *c);
  const char *what;
} zk_bad_index;

typedef struct zk_op_test {
  const char *op;                  /* catalog name */
  zk_tensor_spec t[ZK_T_MAX];      /* in the order of the public signature */
  int nt;
  double scalars[8];               /* default scalar values (eps, p, ...) */
  uint64_t seeds[2];               /* default integer scalars (seed, offset) */
  /* Calls the op with the case's tensors (zk_case_tensor) and scalars. */
  zk_status (*call)(zk_ctx *ctx, struct zk_case *c);
  /* Fills c->ref (and c->refabs for ACC outputs) from c->val. */
  void (*ref)(struct zk_case *c);
  /* Optional: custom input values for ZK_DIST_CUSTOM tensors. */
  void (*fill)(struct zk_case *c, int k, double *vals, int64_t n);
  /* Optional: checks the reference VJP against central differences of the
   * reference forward; returns the max relative error (spec: <= 1e-6). */
  double (*fd_check)(uint64_t seed);
  /* Output k may be an exact alias of input alias_of[k] (-1 or 0 = none;
   * store input index + 1). */
  int alias_of[ZK_T_MAX];
  zk_bad_scalar bad[10];
  int nbad;
  int64_t max_cols;                /* cap on D for the sweep (0 = none) */
  int min_cols;                    /* smallest D (e.g. 1) */
  /* Shapes of ZK_SHAPE_CUSTOM tensors from the case's R, D (and bench). */
  void (*layout)(const struct zk_case *c, int k, zk_layout *out);
  zk_bad_index bad_index[4];
  int nbad_index;
  /* zkern bench: the case's R and D (0 = the bench's standard shapes), and
   * the minimal bytes of a call where that is not every element of every
   * tensor once (caches: only the slots written). */
  int64_t bench_rows, bench_cols;
  double (*min_bytes)(const struct zk_case *c);
  int k_scalar;                    /* 1 + the scalar slot holding k of ZK_SHAPE_ROWS_K tensors (0 = none) */
  /* CPU bits may depend on the thread count (spec §0's one exception: the
   * OpenBLAS GEMM of the linear family): the sweep skips its bitwise
   * 1-vs-3-threads check; the family's extras check run-to-run bits. */
  int threads_vary;
} zk_op_test;

typedef enum zk_backend { ZK_BACKEND_CPU, ZK_BACKEND_CUDA } zk_backend;

typedef struct zk_case {
  const zk_op_test *test;
  zk_backend backend;
  int64_t R, D;
  int one_d;             /* rows tensors built as 1-D [D] (R must be 1) */
  zk_dtype dtype, param_dtype;
  int strided;           /* rows tensors get row stride = row size + 13 */
  int index64;           /* ZK_DT_INDEX tensors are int64 */
  int bench;             /* a benchmark case (layouts may take the bench's head counts) */
  int64_t K;             /* columns of ZK_SHAPE_ROWS_K tensors (scalar k clamped to D) */
  double s[8];
  uint64_t u[2];
  int present[ZK_T_MAX];
  int alias[ZK_T_MAX];   /* output k shares input alias[k]-1's memory */
  DLTensor dl[ZK_T_MAX];
  int64_t shape[ZK_T_MAX][ZK_DIMS_MAX], strides[ZK_T_MAX][ZK_DIMS_MAX];
  zk_layout layout[ZK_T_MAX];
  zk_dtype tdtype[ZK_T_MAX];
  int64_t rows[ZK_T_MAX], cols[ZK_T_MAX], stride[ZK_T_MAX];
  size_t bytes[ZK_T_MAX];
  void *host[ZK_T_MAX];  /* storage as laid out (with gaps) */
  void *dev[ZK_T_MAX];   /* device copy (CUDA) */
  double *val[ZK_T_MAX]; /* inputs: the stored values, compact [rows × cols] */
  double *ref[ZK_T_MAX]; /* outputs: reference values, compact */
  double *refabs[ZK_T_MAX]; /* outputs of ACC classes: the S term, compact */
  double *got[ZK_T_MAX]; /* outputs read back, compact */
  void *initial[ZK_T_MAX]; /* ZK_INOUT: the storage before the call */
  uint64_t seed;
} zk_case;

/* The tensor to pass for slot k (NULL when absent). */
static inline DLTensor *zk_case_tensor(zk_case *c, int k) { return c->present[k] ? &c->dl[k] : NULL; }
#define ZT(c, k) zk_case_tensor((c), (k))

/* Role tests: inputs are filled, outputs compared (ZK_INOUT is both). */
static inline int zk_is_input(const zk_tensor_spec *sp) { return sp->role != ZK_OUT; }
static inline int zk_is_output(const zk_tensor_spec *sp) { return sp->role != ZK_IN; }

/* Elements of tensor k (rows × cols). */
static inline int64_t zk_case_numel(const zk_case *c, int k) { return c->rows[k] * c->cols[k]; }

/* ---------------------------------------------------------------- cases */

typedef struct zk_case_opts {
  zk_backend backend;
  zk_dtype dtype, param_dtype;
  int64_t R, D;
  int strided, one_d;
  uint64_t seed;
  int absent;            /* slot of an optional tensor left NULL (-1 none) */
  int alias;             /* output slot run as an exact alias (-1 none) */
  int bench;             /* benchmark case: fast U(-2, 2) float inputs, no float64 copies */
  int index64;           /* ZK_DT_INDEX tensors as int64 (else int32) */
} zk_case_opts;

/* Builds inputs and poisoned outputs (on the device too).  0 on success. */
int zk_case_init(zk_case *c, const zk_op_test *t, const zk_case_opts *o);
void zk_case_free(zk_case *c);
/* Runs the op on ctx, reads outputs back, checks gaps; returns the status. */
zk_status zk_case_run(zk_case *c, zk_ctx *ctx);
/* Compares every present output with the reference; 0 when all pass, else
 * writes the first failure to msg. */
int zk_case_check(zk_case *c, char *msg, size_t cap);

/* zk_case_init with a message: 0 on success, else msg says why (and the
 * case is freed). */
int zk_case_setup(zk_case *c, const zk_op_test *t, const zk_case_opts *o, char *msg, size_t cap);
/* Runs the case expecting ZK_OK; 0 on success, else msg says what returned. */
int zk_case_run_ok(zk_case *c, zk_ctx *ctx, char *msg, size_t cap);
/* zk_case_run_ok, then the reference and every output's tolerance check. */
int zk_case_run_checked(zk_case *c, zk_ctx *ctx, char *msg, size_t cap);

/* zk_case_run_checked with every output but `keep` passed as NULL (keep
 * = -1: none), for the gradients whose outputs are each optional. */
int zk_case_run_only_output(zk_case *c, zk_ctx *ctx, int keep, char *msg, size_t cap);

/* Stores v as element i (flat, compact) of integer input k, on the host and
 * the device, and in c->val.  0 on success. */
int zk_case_set_index(zk_case *c, int k, int64_t i, int64_t v);

/* One full case: init, run, ref, check.  0 = pass. */
int zk_run_case(const zk_op_test *t, zk_ctx *ctx, const zk_case_opts *o, char *msg, size_t cap);

/* Every bad-input case of the descriptor on ctx's backend.  0 = pass. */
int zk_run_bad_inputs(const zk_op_test *t, zk_ctx *ctx, zk_backend backend, char *msg, size_t cap);

/* --------------------------------------------------------------- sweeps */

typedef struct zk_sweep {
  const int64_t *rows;
  int nrows;
  const int64_t *cols;
  int ncols;
  int64_t max_elements;  /* skip R·D above this (0 = none) */
} zk_sweep;

/* The spec's standard sweep (KERNELS.md §0). */
extern const zk_sweep zk_standard_sweep;

typedef struct zk_sweep_result {
  int cases, failed;
  char first_failure[512];
} zk_sweep_result;

/* The standard sweep of one op on one backend: every dtype, every (R, D),
 * compact and strided, each alias, each optional output absent. */
void zk_run_sweep(const zk_op_test *t, zk_ctx *ctx, zk_backend backend, const zk_sweep *sw,
                  uint64_t seed, zk_sweep_result *res);

/* -------------------------------------------------------------- helpers */

/* Reference rounding of a value into a stored dtype (round to nearest even). */
double zk_round_to(double v, zk_dtype t);
/* Deterministic random numbers for inputs. */
uint64_t zk_rand_u64(uint64_t *state);
double zk_rand_uniform(uint64_t *state, double lo, double hi);
double zk_rand_normal(uint64_t *state);

/* The run's base seed: ZK_TEST_SEED from the environment, else fresh. */
uint64_t zk_test_seed(void);

/* Central-difference check of a vector-Jacobian product.  f maps x[n] to
 * y[m]; dx is the analytic VJP at x for cotangent dy.  Returns the max
 * relative error over x's coordinates (relative to max|dx|). */
typedef void (*zk_fd_fn)(const double *x, double *y, const void *ctx);
double zk_fd_vjp_error(zk_fd_fn f, const void *ctx, const double *x, int64_t n, int64_t m,
                       const double *dy, const double *dx);

/* ---------------------------------------------------------------- families */

/* An extra test of a family (known answers, statistics, properties):
 * returns 0 on pass, else writes why to msg. */
typedef int (*zk_extra_fn)(zk_ctx *ctx, zk_backend backend, char *msg, size_t cap);
typedef struct zk_extra_test {
  const char *name;
  zk_extra_fn fn;
} zk_extra_test;

typedef struct zk_family_tests {
  const char *family;
  const zk_op_test *ops;
  int nops;
  const zk_extra_test *extras;
  int nextras;
} zk_family_tests;

extern const zk_family_tests *const zk_all_families[];
extern const int zk_n_families;
/* The descriptor of a catalog op, NULL when it has none. */
const zk_op_test *zk_find_test(const char *op);

/* Device memory for CUDA cases (no-ops returning errors without CUDA). */
int zk_dev_alloc(void **p, size_t bytes);
void zk_dev_free(void *p);
int zk_dev_upload(void *dst, const void *src, size_t bytes);
int zk_dev_download(void *dst, const void *src, size_t bytes);
int zk_dev_available(void);

#endif
