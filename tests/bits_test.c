/* Test descriptors of the bits family.  Filled as its ops land. */
#include "harness/harness.h"

const zk_family_tests zk_tests_bits = {"bits", NULL, 0, NULL, 0};
