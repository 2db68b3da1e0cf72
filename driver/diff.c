/* diff.c — a unified diff of two texts by lines: longest common subsequence
 * by dynamic programming (IR dumps are a few thousand lines at most), then
 * hunks with three lines of context, as `diff -u` prints them. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "diff.h"

#define CONTEXT 3

typedef struct {
  const char **line;
  int *len, n;
} Lines;

static Lines split(const char *text) {
  Lines l = {0};
  int cap = 64;
  l.line = malloc(cap * sizeof *l.line);
  l.len = malloc(cap * sizeof *l.len);
  for (const char *p = text; *p;) {
    const char *end = strchr(p, '\n');
    int len = end ? (int)(end - p) : (int)strlen(p);
    if (l.n == cap) {
      cap *= 2;
      l.line = realloc(l.line, cap * sizeof *l.line);
      l.len = realloc(l.len, cap * sizeof *l.len);
    }
    l.line[l.n] = p;
    l.len[l.n++] = len;
    p += len + (end != NULL);
  }
  return l;
}

static bool same(const Lines *a, int i, const Lines *b, int j) {
  return a->len[i] == b->len[j] && memcmp(a->line[i], b->line[j], a->len[i]) == 0;
}

/* ops[k]: ' ' keep, '-' delete from a, '+' insert from b; returns the count */
static int edit_script(const Lines *a, const Lines *b, char *ops) {
  int n = a->n, m = b->n, k = 0;
  int *lcs = calloc((size_t)(n + 1) * (m + 1), sizeof *lcs); /* lcs of suffixes a[i..], b[j..] */
#define L(i, j) lcs[(size_t)(i) * (m + 1) + (j)]
  for (int i = n - 1; i >= 0; i--)
    for (int j = m - 1; j >= 0; j--)
      L(i, j) = same(a, i, b, j) ? L(i + 1, j + 1) + 1 : L(i + 1, j) > L(i, j + 1) ? L(i + 1, j) : L(i, j + 1);
  for (int i = 0, j = 0; i < n || j < m;) {
    if (i < n && j < m && same(a, i, b, j)) ops[k++] = ' ', i++, j++;
    else if (i < n && (j == m || L(i + 1, j) >= L(i, j + 1))) ops[k++] = '-', i++; /* deletions first */
    else ops[k++] = '+', j++;
  }
#undef L
  free(lcs);
  return k;
}

static void print_hunk(FILE *out, const Lines *a, const Lines *b, const char *ops, int from, int to, int ai, int bi) {
  int na = 0, nb = 0;
  for (int k = from; k < to; k++) na += ops[k] != '+', nb += ops[k] != '-';
  fprintf(out, "@@ -%d,%d +%d,%d @@\n", ai + 1, na, bi + 1, nb);
  for (int k = from; k < to; k++) {
    const Lines *src = ops[k] == '+' ? b : a;
    int idx = ops[k] == '+' ? bi++ : ai++;
    if (ops[k] == ' ') bi++;
    fprintf(out, "%c%.*s\n", ops[k], src->len[idx], src->line[idx]);
  }
}

void diff_unified(FILE *out, const char *a_name, const char *a, const char *b_name, const char *b) {
  Lines la = split(a), lb = split(b);
  char *ops = malloc(la.n + lb.n + 1);
  int n = edit_script(&la, &lb, ops);
  fprintf(out, "--- %s\n+++ %s\n", a_name, b_name);
  int ai = 0, bi = 0; /* line numbers at ops[k] */
  for (int k = 0; k < n;) {
    if (ops[k] == ' ') { ai++, bi++, k++; continue; }
    int from = k, start_ai = ai, start_bi = bi;
    for (int c = 0; c < CONTEXT && from > 0 && ops[from - 1] == ' '; c++) from--, start_ai--, start_bi--;
    int to = k, quiet = 0; /* extend while changes are within 2*CONTEXT of each other */
    for (; to < n && quiet <= 2 * CONTEXT; to++) {
      quiet = ops[to] == ' ' ? quiet + 1 : 0;
      ai += ops[to] != '+', bi += ops[to] != '-';
    }
    int trail = quiet > CONTEXT ? quiet - CONTEXT : 0;
    to -= trail, ai -= trail, bi -= trail;
    print_hunk(out, &la, &lb, ops, from, to, start_ai, start_bi);
    k = to;
  }
  free(ops);
  free(la.line), free(la.len), free(lb.line), free(lb.len);
}
