/* fuzz_node.c with a successor list of 4 and fingers: peer 4 of 1 3 4 5 8. */
#define FUZZ_NODE_LISTS 1
#include "fuzz_node.c"
