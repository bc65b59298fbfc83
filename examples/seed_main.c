/* The seed example from C: `chaincc compile samples/seed.txt -o build/c` writes seed.h and
 * seed.c, and this program calls f_value_and_grad at (x, y) = (1, 2).
 *
 *   cc -std=c99 -Ibuild/c -o build/seed_main examples/seed_main.c build/c/seed.c -lm
 *   ./build/seed_main        # prints: 24 32 44
 */
#include <stdio.h>

#include "seed.h"

int main(void)
{
    double grad[2];
    double value = f_value_and_grad(1.0, 2.0, grad);
    printf("%g %g %g\n", value, grad[0], grad[1]);
    return 0;
}
