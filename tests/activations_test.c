/* Test descriptors of the activations family. */
#include "harness/harness.h"

const zk_family_tests zk_tests_activations = {"activations", NULL, 0, NULL, 0};
