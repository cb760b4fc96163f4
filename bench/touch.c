// The accuracy benchmark's memory load: allocate MIB mebibytes and write every
// byte, so the whole allocation is resident at exit.
#include <stdlib.h>
#include <string.h>

int main(int argc, char** argv) {
  size_t bytes = (size_t)(argc > 1 ? atol(argv[1]) : 100) << 20;
  char* block = malloc(bytes);
  if (block == NULL) return 1;
  memset(block, 1, bytes);
  __asm__ volatile("" : : "r"(block) : "memory");  // the writes may not be optimised away
  free(block);
  return 0;
}
