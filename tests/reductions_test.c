/* Test descriptors of the reductions family.  Filled as its ops land. */
#include "harness/harness.h"

const zk_family_tests zk_tests_reductions = {"reductions", NULL, 0, NULL, 0};
