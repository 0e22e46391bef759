/* fuzz_node.c with the node joining the ring: peer 6 joins 1 3 4 5 8 through peer 5. */
#define FUZZ_NODE_JOIN 1
#include "fuzz_node.c"
