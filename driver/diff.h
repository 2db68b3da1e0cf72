/* diff.h — unified diffs of two texts, for `--print-changed`. */
#ifndef NND_DIFF_H
#define NND_DIFF_H

#include <stdio.h>

/* Prints a unified diff (3 lines of context) from text a to text b. */
void diff_unified(FILE *out, const char *a_name, const char *a, const char *b_name, const char *b);

#endif
