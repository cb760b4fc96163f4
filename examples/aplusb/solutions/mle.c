/* Memory limit: touches 1 GiB in 1 MiB blocks, keeping every block. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    long sum = 0;
    for (int i = 0; i < 1024; i++) {
        char *block = malloc(1 << 20);
        if (!block) return 1;
        memset(block, i, 1 << 20);
        sum += block[i];
    }
    printf("%ld\n", sum);
    return 0;
}
