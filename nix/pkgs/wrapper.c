/* A program wrapper for the bundled package set (nixpkgs' makeWrapper as
 * a small C program, so that it needs no shell in the image). builder.sh
 * compiles it with -include of a header defining WRAPPED (the real
 * program's store path) and WRAPPER_VARS (pairs of variable name and value,
 * each followed by a comma, prepended with ":" to what the environment
 * already has). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const vars[] = {WRAPPER_VARS NULL};

int main(int argc, char **argv)
{
    (void)argc;
    for (int i = 0; vars[i] != NULL; i += 2) {
        const char *old = getenv(vars[i]);
        if (old != NULL && *old != '\0') {
            size_t n = strlen(vars[i + 1]) + strlen(old) + 2;
            char *both = malloc(n);
            if (both == NULL) {
                return 127;
            }
            snprintf(both, n, "%s:%s", vars[i + 1], old);
            setenv(vars[i], both, 1);
        } else {
            setenv(vars[i], vars[i + 1], 1);
        }
    }
    execv(WRAPPED, argv);
    perror(WRAPPED);
    return 127;
}
