// Memory limit: allocates 1 GiB and touches every page of it.
#include <cstdlib>
#include <iostream>

int main() {
    const std::size_t size = std::size_t(1) << 30;
    char* block = static_cast<char*>(std::malloc(size));
    if (block == nullptr) return 1;
    for (std::size_t i = 0; i < size; i += 4096) block[i] = char(i >> 12);
    long long a, b;
    std::cin >> a >> b;
    std::cout << a + b + block[size / 2] - block[size / 2] << '\n';
}
