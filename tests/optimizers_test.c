/* Test descriptors of the optimizers family.  Filled as its ops land. */
#include "harness/harness.h"

const zk_family_tests zk_tests_optimizers = {"optimizers", NULL, 0, NULL, 0};
