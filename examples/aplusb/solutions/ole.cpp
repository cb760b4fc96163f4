// Output limit: prints the answer endlessly (in 64 KiB chunks, so that any
// output limit is reached long before any time limit).
#include <cstdio>
#include <string>

int main() {
    long long a, b;
    if (std::scanf("%lld %lld", &a, &b) != 2) return 1;
    const std::string line = std::to_string(a + b) + "\n";
    std::string chunk;
    while (chunk.size() < 65536) chunk += line;
    for (;;) std::fwrite(chunk.data(), 1, chunk.size(), stdout);
}
