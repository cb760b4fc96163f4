#include <cstdio>
int main() {
  long long n, x, sum = 0;
  std::scanf("%lld", &n);
  while (n-- > 0 && std::scanf("%lld", &x) == 1) sum += x;
  std::printf("%lld\n", sum);
}
