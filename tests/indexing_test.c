/* Test descriptors of the indexing family.  Filled as its ops land. */
#include "harness/harness.h"

const zk_family_tests zk_tests_indexing = {"indexing", NULL, 0, NULL, 0};
