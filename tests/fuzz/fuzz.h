/* fuzz.h — what the fuzz targets in tests/fuzz/ share. Each target is one
 * LLVMFuzzerTestOneInput over a public entry point (frontend.h, ir.h,
 * program.h, runtime.h); linked with libFuzzer it fuzzes, linked with
 * replay.c it runs the files it is given once (the lit test and any plain
 * build use that). */
#ifndef NND_FUZZ_H
#define NND_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../../ir/ir.h"
#include "../../program/program.h"

/* the input as a file the loaders can open: one memfd per process, rewritten
 * for each input, named by its /proc/self/fd path */
const char *fuzz_file(const uint8_t *data, size_t size);
/* the input as a NUL-terminated string (free it), or NULL if it holds a NUL
 * byte: what the driver reads as text refuses those */
char *fuzz_text(const uint8_t *data, size_t size);
/* where the targets print what they make (ASTs, graphs): nowhere */
FILE *fuzz_null(void);
/* the real stderr, for the harness's own messages: the library's diagnostics
 * go to /dev/null so that output stays bounded (NND_FUZZ_VERBOSE=1 keeps them) */
FILE *fuzz_log(void);
/* reads every byte of [p, p + n), so that a pointer outside its buffer is
 * caught by AddressSanitizer here rather than later or never */
void fuzz_touch(const void *p, size_t n);
/* a verified graph prints, reads back, verifies and prints the same text
 * again (what tests/ir/roundtrip.test asks of every example); fuzz_fail if not */
void fuzz_check_roundtrip(IrGraph *g, const char *what);
/* a Program's entries print, read back and print the same text again (what
 * tests/program/roundtrip.test asks of a manifest); fuzz_fail if not */
void fuzz_check_program_roundtrip(const PgEntry *entries, int n);
/* a broken invariant the fuzzer should report as a crash: message, then abort */
_Noreturn void fuzz_fail(const char *fmt, ...);

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
