/* Test descriptors of the transformer family. */
#include "harness/harness.h"

const zk_family_tests zk_tests_transformer = {"transformer", NULL, 0, NULL, 0};
