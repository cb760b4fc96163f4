// Kattis output validator: validator input answer feedback_dir [args] < team_output.
// Exit 42 accepts, 43 rejects; why goes into feedback_dir/judgemessage.txt.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include "feedback.h"

int main(int argc, char** argv) {
  if (argc < 4) return 1;
  long long limit = 1000000;
  for (int i = 4; i + 1 < argc; i++)
    if (std::strcmp(argv[i], "max_value") == 0) limit = std::atoll(argv[i + 1]);
  FILE* input = std::fopen(argv[1], "r");
  long long n;
  if (!input || std::fscanf(input, "%lld", &n) != 1) return 1;
  long long a, b;
  if (std::scanf("%lld %lld", &a, &b) != 2) return reject(argv[3], "expected two integers");
  char extra;
  if (std::scanf(" %c", &extra) == 1) return reject(argv[3], "trailing output");
  if (a < 0 || b < 0 || a > limit || b > limit) return reject(argv[3], "a number is out of range");
  if (a + b != n) return reject(argv[3], "a + b = " + std::to_string(a + b) + ", not " + std::to_string(n));
  return accept();
}
