/* Test descriptors of the attention family.  Filled as its ops land. */
#include "harness/harness.h"

const zk_family_tests zk_tests_attention = {"attention", NULL, 0, NULL, 0};
