/* Core: catalog, context, status names, tensor checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "harness/harness.h"

/* Every op ops.def marks supported on a backend has a test descriptor. */
static void catalog_has_descriptors(void **state) {
  (void)state;
  size_t n;
  const zk_op_info *ops = zk_catalog(&n);
  assert_int_equal(n, 116);
  int cpu = 0;
  for (size_t i = 0; i < n; i++) {
    if ((ops[i].cpu || ops[i].cuda) && !zk_find_test(ops[i].name)) fail_msg("%s is supported but has no test descriptor", ops[i].name);
    cpu += ops[i].cpu;
  }
  print_message("%d ops on cpu\n", cpu);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(catalog_has_descriptors),
  };
  return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
