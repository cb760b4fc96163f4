// The accuracy benchmark's CPU load: a fixed amount of work (ITERATIONS steps of
// a dependent multiply-add chain), calibrated by the harness to about 0.5 s. A
// fixed count rather than "spin until 0.5 s": the bare and sandboxed runs must do
// identical work for their CPU times to be compared.
#include <stdint.h>
#include <stdlib.h>

int main(int argc, char** argv) {
  uint64_t iterations = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000000u;
  uint64_t x = 1;
  for (uint64_t i = 0; i < iterations; i++) {
    x = x * 6364136223846793005u + 1442695040888963407u;
    __asm__ volatile("" : "+r"(x));  // keep the loop: the result is otherwise unused
  }
  return x == 0 ? 1 : 0;
}
