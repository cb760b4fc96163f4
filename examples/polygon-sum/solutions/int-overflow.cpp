// Sums in an int: wrong once the sum leaves 32 bits (tests 03 and 04): 30 points of 100.
#include <cstdio>
int main() {
  int n, x, sum = 0;
  std::scanf("%d", &n);
  while (n-- > 0 && std::scanf("%d", &x) == 1) sum += x;
  std::printf("%d\n", sum);
}
