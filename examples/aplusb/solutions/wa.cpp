// Wrong answer: a hand-written fast reader that forgets the minus sign, so any
// negative input is read as positive (right on 01, 02 and 04; wrong on 03).
#include <cctype>
#include <cstdio>

static long long read_number() {
    int c = std::getchar();
    while (c != EOF && !std::isdigit(c)) c = std::getchar();
    long long value = 0;
    for (; c != EOF && std::isdigit(c); c = std::getchar()) value = value * 10 + (c - '0');
    return value;
}

int main() {
    long long a = read_number();
    long long b = read_number();
    std::printf("%lld\n", a + b);
}
