/* fuzz.c — the helpers of fuzz.h and the one LLVMFuzzerInitialize of every
 * target: it sends the library's diagnostics to /dev/null. They go to the C
 * stream `stderr`, which glibc lets a program reassign; libFuzzer and the
 * sanitizers write to file descriptor 2 (or a FILE taken before main), so
 * their reports still arrive. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"

static FILE *real_stderr;
static FILE *null_out;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  real_stderr = stderr;
  null_out = fopen("/dev/null", "w");
  if (!null_out) fuzz_fail("cannot open /dev/null");
  const char *verbose = getenv("NND_FUZZ_VERBOSE");
  if (!verbose || strcmp(verbose, "1") != 0) stderr = null_out;
  return 0;
}

FILE *fuzz_null(void) { return null_out; }

FILE *fuzz_log(void) { return real_stderr ? real_stderr : stderr; }

_Noreturn void fuzz_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("nnd fuzz: ", fuzz_log());
  vfprintf(fuzz_log(), fmt, ap);
  fputc('\n', fuzz_log());
  va_end(ap);
  fflush(fuzz_log());
  abort();
}

const char *fuzz_file(const uint8_t *data, size_t size) {
  static int fd = -1;
  static char path[64];
  if (fd < 0) {
    fd = memfd_create("nnd-fuzz", 0);
    if (fd < 0) fuzz_fail("memfd_create failed");
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  }
  if (ftruncate(fd, 0) != 0) fuzz_fail("cannot truncate the input file");
  for (size_t done = 0; done < size;) {
    ssize_t n = pwrite(fd, data + done, size - done, (off_t)done);
    if (n <= 0) fuzz_fail("cannot write the input file");
    done += (size_t)n;
  }
  return path;
}

char *fuzz_text(const uint8_t *data, size_t size) {
  if (memchr(data, 0, size)) return NULL;
  char *text = malloc(size + 1);
  if (!text) fuzz_fail("out of memory for a %zu-byte input", size);
  memcpy(text, data, size);
  text[size] = 0;
  return text;
}

void fuzz_touch(const void *p, size_t n) {
  const volatile unsigned char *b = p;
  unsigned char sum = 0;
  for (size_t i = 0; i < n; i++) sum ^= b[i];
  (void)sum;
}

static char *print_graph(const IrGraph *g) {
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  if (!out) fuzz_fail("open_memstream failed");
  ir_print(out, g);
  fclose(out);
  return text;
}

void fuzz_check_roundtrip(IrGraph *g, const char *what) {
  char *first = print_graph(g);
  IrGraph *again = ir_parse("roundtrip.nnir", first);
  if (!again || !ir_verify(again, "parse"))
    fuzz_fail("the %s graph does not read back:\n%s", what, first);
  char *second = print_graph(again);
  if (strcmp(first, second) != 0)
    fuzz_fail("the %s graph prints differently after reading it back:\n%s\n-- then --\n%s", what,
              first, second);
  free(second);
  ir_graph_free(again);
  free(first);
}

static char *print_program(const PgEntry *entries, int n) {
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  if (!out) fuzz_fail("open_memstream failed");
  pg_print(out, entries, n);
  fclose(out);
  return text;
}

void fuzz_check_program_roundtrip(const PgEntry *entries, int n) {
  char *first = print_program(entries, n);
  int m;
  PgEntry *again = pg_parse("roundtrip.nnprog", first, &m);
  if (!again) fuzz_fail("the program does not read back:\n%s", first);
  char *second = print_program(again, m);
  if (strcmp(first, second) != 0)
    fuzz_fail("the program prints differently after reading it back:\n%s\n-- then --\n%s", first,
              second);
  free(second);
  for (int i = 0; i < m; i++) pg_entry_free(&again[i]);
  free(again);
  free(first);
}
