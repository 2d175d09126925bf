/* Every family's test descriptors.  A family of ops.def without an entry
 * here fails the catalog test as soon as one of its ops is marked Y. */
#include <string.h>
#include "harness.h"

extern const zk_family_tests zk_tests_activations, zk_tests_softmax, zk_tests_norms, zk_tests_transformer,
    zk_tests_fused, zk_tests_attention, zk_tests_rope, zk_tests_reductions, zk_tests_loss, zk_tests_scan,
    zk_tests_quant, zk_tests_bits, zk_tests_indexing, zk_tests_optimizers,
    zk_tests_moe;
extern const zk_family_tests zk_tests_vlsp, zk_tests_image, zk_tests_linear;

const zk_family_tests *const zk_all_families[] = {
    &zk_tests_activations,
    &zk_tests_softmax,
    &zk_tests_norms,
    &zk_tests_transformer,
    &zk_tests_fused,
    &zk_tests_attention,
    &zk_tests_rope,
    &zk_tests_reductions,
    &zk_tests_loss,
    &zk_tests_scan,
    &zk_tests_quant,
    &zk_tests_bits,
    &zk_tests_indexing,
    &zk_tests_optimizers,
    &zk_tests_moe,
    &zk_tests_vlsp,
    &zk_tests_image,
    &zk_tests_linear,
};
const int zk_n_families = sizeof zk_all_families / sizeof zk_all_families[0];

const zk_op_test *zk_find_test(const char *op) {
  for (int f = 0; f < zk_n_families; f++)
    for (int i = 0; i < zk_all_families[f]->nops; i++)
      if (!strcmp(zk_all_families[f]->ops[i].op, op)) return &zk_all_families[f]->ops[i];
  return NULL;
}
