/* replace.c — a file replaced as a whole or not at all: the new contents go
 * to a temporary beside it (PATH.tmp.XXXXXX), are synced, and take its name
 * by rename(), so a failed or killed run leaves what was there. Used for the
 * text results of nnd dump and nnd opt with -o, as LLVM's tools keep their
 * output file only when they succeed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime.h"

/* 0 or the errno of the write or fsync that failed */
static int write_all(int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t got = write(fd, data, len);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return errno;
    data += got, len -= (size_t)got;
  }
  return fsync(fd) != 0 ? errno : 0;
}

/* 0 or an errno: why the contents are not at path */
static int replace(const char *path, const char *data, size_t len) {
  struct stat st;
  if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) return S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp) return ENAMETOOLONG;
  int fd = mkstemp(tmp);
  if (fd < 0) return errno;
  int err = write_all(fd, data, len);
  if (close(fd) != 0 && !err) err = errno;
  if (!err && rename(tmp, path) != 0) err = errno;
  if (err) unlink(tmp);
  return err;
}

bool rt_replace_file(const char *path, const char *data, size_t len) {
  int err = *path ? replace(path, data, len) : ENOENT;
  if (err)
    diag_error((PgLoc){0}, "cannot write '%s': %s (nothing was replaced)", path,
               err == EINVAL ? "it is not a regular file" : strerror(err));
  return !err;
}
