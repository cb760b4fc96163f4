// Compile error: `sum` is never declared.
#include <iostream>

int main() {
    long long a, b;
    std::cin >> a >> b;
    std::cout << sum << '\n';
}
