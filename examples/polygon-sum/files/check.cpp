// check input output answer: the contestant's one integer against the answer's.
#include <cstdio>
#include <string>
#include "checklib.h"

int main(int argc, char** argv) {
  if (argc < 4) return 3;
  FILE* output = std::fopen(argv[2], "r");
  FILE* answer = std::fopen(argv[3], "r");
  if (!output || !answer) return 3;
  long long got, want;
  if (std::fscanf(answer, "%lld", &want) != 1) return 3;
  if (std::fscanf(output, "%lld", &got) != 1) quit(PE, "expected an integer");
  char extra;
  if (std::fscanf(output, " %c", &extra) == 1) quit(PE, "extra output after the sum");
  if (got != want) quit(WA, ("expected " + std::to_string(want) + ", found " + std::to_string(got)).c_str());
  quit(OK, ("sum " + std::to_string(got)).c_str());
}
