/* Fuzzes the reader of /proc/PID/stat's start time: the command name in that line is chosen
 * by the process (a jailed container's, too) and may hold blanks, parentheses and digits. The
 * parser must never read past the input, and a start time it returns must be the 20th field
 * after the last ')', which the check recomputes in a plainer way. */
#include "config.h"
#include "jail/proc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    unsigned long long start = 0;
    char *p, *save = NULL, *tok;
    int field = 2;

    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    if (dj_proc_parse_start((const char *)data, size, &start) == 0) {
        /* A NUL in the input ends the plain reading early; only check inputs without one. */
        p = memchr(copy, '\0', size) == NULL ? strrchr(copy, ')') : NULL;
        if (p != NULL) {
            for (tok = strtok_r(p + 1, " \n", &save); tok != NULL && ++field < 22;
                 tok = strtok_r(NULL, " \n", &save))
                ;
            if (tok == NULL || strtoull(tok, NULL, 10) != start) {
                fprintf(stderr, "fuzz-procstat: start %llu is not field 22\n", start);
                abort();
            }
        }
    }
    free(copy);
    return 0;
}
