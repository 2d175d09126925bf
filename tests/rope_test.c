/* Test descriptors of the rope family.  Filled as its ops land. */
#include "harness/harness.h"

const zk_family_tests zk_tests_rope = {"rope", NULL, 0, NULL, 0};
