/* replay.c — the main of a fuzz target built without libFuzzer: runs each
 * file given, and each file of each folder given (sorted, dot files skipped),
 * through LLVMFuzzerTestOneInput once. The lit suite replays the seed corpus
 * and the regression inputs this way in every build (gcc, clang, ASan), so a
 * crash the fuzzer once found stays a test. A crash is the test's failure;
 * a path that cannot be read is reported and fails too. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static unsigned char *read_all(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, len = 0, got;
  unsigned char *buf = malloc(cap);
  while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0)
    if ((len += got) == cap) buf = realloc(buf, cap *= 2);
  bool ok = !ferror(f);
  fclose(f);
  if (!ok) return free(buf), NULL;
  *size = len;
  return buf;
}

static bool run_file(const char *path) {
  size_t size;
  unsigned char *data = read_all(path, &size);
  if (!data) return fprintf(fuzz_log(), "replay: cannot read '%s'\n", path), false;
  LLVMFuzzerTestOneInput(data, size);
  free(data);
  return true;
}

static int no_dot(const struct dirent *e) { return e->d_name[0] != '.'; }

/* the number of inputs run, or -1 on a path that cannot be read */
static int run_path(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return run_file(path) ? 1 : -1;
  struct dirent **names;
  int n = scandir(path, &names, no_dot, alphasort);
  if (n < 0) return fprintf(fuzz_log(), "replay: cannot list '%s'\n", path), -1;
  int runs = 0;
  for (int i = 0; i < n; i++) {
    char file[4096];
    snprintf(file, sizeof file, "%s/%s", path, names[i]->d_name);
    if (runs >= 0) runs = run_file(file) ? runs + 1 : -1;
    free(names[i]);
  }
  free(names);
  return runs;
}

int main(int argc, char **argv) {
  LLVMFuzzerInitialize(&argc, &argv);
  int total = 0;
  bool ok = true;
  for (int i = 1; i < argc; i++) {
    int runs = run_path(argv[i]);
    ok = ok && runs >= 0;
    total += runs > 0 ? runs : 0;
  }
  fprintf(fuzz_log(), "%s: %d inputs ran without a crash\n", argv[0], total);
  return ok ? 0 : 1;
}
