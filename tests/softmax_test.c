/* Test descriptors of the softmax family. */
#include "harness/harness.h"

const zk_family_tests zk_tests_softmax = {"softmax", NULL, 0, NULL, 0};
