#include <cstdio>
int main() { long long n; std::scanf("%lld", &n); std::printf("0 %lld\n", n); }
