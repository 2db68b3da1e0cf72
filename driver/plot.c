/* plot.c — nnd plot LOG.jsonl -o FILE.png|FILE.svg: the curves of a
 * training log (nnd train --log: one JSON object per epoch, runtime/train.c)
 * drawn with cairo. One panel per quantity: the loss, each metric, and any
 * other number the log has but "epoch" and "seconds" (a learning rate); in it
 * the train value (KEY), the validation value (val_KEY) and the test value
 * (test_KEY) over the epochs, with ticks, a title and a legend.
 *
 * The log is read within bounds (MAX_LINES lines of at most MAX_LINE bytes,
 * MAX_SERIES keys, MAX_POINTS values); anything else, or a line that is not a
 * JSON object with an "epoch" and numbers, is LOG:LINE: error: ... and exit
 * status 1. null (the log's NaN or infinity) and a missing key are gaps. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cairo/cairo-svg.h>

#include "draw.h"
#include "driver.h"

#define MAX_LINES 1000000
#define MAX_LINE 65536        /* bytes in one line */
#define MAX_SERIES 64         /* distinct keys */
#define MAX_KEY 100           /* bytes in one key */
#define MAX_POINTS (1 << 23)  /* values and gaps in all: 128 MiB */
#define MAX_VALUE 1e300       /* beyond it axis arithmetic would overflow */
#define PANEL_W 560
#define PANEL_H 360
#define HEADER 34

typedef struct {
  double x, y; /* y NaN: a gap */
} Point;

typedef struct {
  char *key;
  Point *p;
  int n, cap;
  int last; /* the record of its last value */
} Series;

typedef struct {
  const char *path;
  int line, records; /* the line being read; objects read so far */
  Series s[MAX_SERIES];
  int ns;
  long points;
} Log;

static const char *const prefixes[] = {"", "val_", "test_"};
static const char *const roles[] = {"train", "validation", "test"};
static const unsigned colours[] = {0x1f77b4, 0xff7f0e, 0x2ca02c};

/* a quantity's panel: the series of its train, validation and test values */
typedef struct {
  const char *name;
  int series[3]; /* -1: absent */
} Panel;

/* the plot area of a panel on the surface, and the data range it shows */
typedef struct {
  double x0, y0, w, h;
  double xlo, xhi, ylo, yhi, xstep, ystep;
  bool whole; /* every x is a whole number (epochs): no ticks between */
} Frame;

static bool log_error(const Log *log, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s:%d: error: ", log->path, log->line);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return false;
}

static void free_log(Log *log) {
  for (int i = 0; i < log->ns; i++) {
    free(log->s[i].key);
    free(log->s[i].p);
  }
}

/* ---- reading ---- */

static Series *series_of(Log *log, const char *key) {
  for (int i = 0; i < log->ns; i++)
    if (strcmp(log->s[i].key, key) == 0) return &log->s[i];
  if (strlen(key) > MAX_KEY) return log_error(log, "a key longer than %d bytes", MAX_KEY), NULL;
  if (log->ns == MAX_SERIES)
    return log_error(log, "more than %d different keys ('%s')", MAX_SERIES, key), NULL;
  Series *s = &log->s[log->ns];
  *s = (Series){.key = pg_malloc(strlen(key) + 1)};
  if (!s->key) return NULL;
  strcpy(s->key, key);
  log->ns++;
  return s;
}

static bool push(Log *log, Series *s, double x, double y) {
  if (log->points == MAX_POINTS)
    return log_error(log, "more than %d values in the log", MAX_POINTS);
  if (s->n == s->cap) {
    int cap = s->cap ? 2 * s->cap : 64;
    Point *p = pg_realloc(s->p, (size_t)cap * sizeof *p);
    if (!p) return false;
    s->p = p;
    s->cap = cap;
  }
  s->p[s->n++] = (Point){x, y};
  log->points++;
  return true;
}

/* a value of this record; a gap first where the series skipped records */
static bool add_value(Log *log, const char *key, double x, double y) {
  Series *s = series_of(log, key);
  if (!s) return false;
  if (s->n && s->last != log->records - 1 && !push(log, s, x, NAN)) return false;
  s->last = log->records;
  return push(log, s, x, y);
}

static bool number_of(const Log *log, const char *key, const json_t *v, double *out) {
  if (json_is_null(v)) {
    *out = NAN;
    return true;
  }
  if (!json_is_number(v)) return log_error(log, "\"%.64s\" is not a number or null", key);
  *out = json_number_value(v);
  if (fabs(*out) > MAX_VALUE) return log_error(log, "\"%.64s\" is out of range: %g", key, *out);
  return true;
}

static bool record_values(Log *log, json_t *o) {
  json_t *epoch = json_object_get(o, "epoch"), *v;
  double x, y;
  if (!epoch) return log_error(log, "no \"epoch\"");
  if (!number_of(log, "epoch", epoch, &x)) return false;
  if (isnan(x)) return log_error(log, "\"epoch\" is null");
  const char *key;
  json_object_foreach(o, key, v) {
    if (strcmp(key, "epoch") == 0 || strcmp(key, "seconds") == 0) continue;
    if (!number_of(log, key, v, &y) || !add_value(log, key, x, y)) return false;
  }
  log->records++;
  return true;
}

static bool read_record(Log *log, const char *text, size_t len) {
  json_error_t err;
  json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
  if (!o) return log_error(log, "not JSON: %s (column %d)", err.text, err.column);
  bool ok = json_is_object(o) ? record_values(log, o) : log_error(log, "not a JSON object");
  json_decref(o);
  return ok;
}

/* one line into buf without its newline: its length, -1 at the end of the
 * file, -2 if it is longer than cap - 1 bytes */
static long read_line(FILE *f, char *buf, size_t cap) {
  size_t n = 0;
  int ch;
  while ((ch = getc(f)) != EOF && ch != '\n') {
    if (n + 1 == cap) return -2;
    buf[n++] = (char)ch;
  }
  buf[n] = 0;
  return ch == EOF && n == 0 ? -1 : (long)n;
}

static bool blank(const char *s) {
  while (*s == ' ' || *s == '\t' || *s == '\r') s++;
  return *s == 0;
}

static bool read_log(Log *log, FILE *f) {
  char *buf = pg_malloc(MAX_LINE + 1);
  bool ok = buf != NULL;
  long len = 0;
  while (ok && (len = read_line(f, buf, MAX_LINE + 1)) != -1) {
    if (++log->line > MAX_LINES) ok = log_error(log, "more than %d lines", MAX_LINES);
    else if (len == -2) ok = log_error(log, "a line longer than %d bytes", MAX_LINE);
    else if (memchr(buf, 0, (size_t)len)) ok = log_error(log, "a NUL byte in the line");
    else if (!blank(buf)) ok = read_record(log, buf, (size_t)len);
  }
  free(buf);
  if (ok && ferror(f)) {
    fprintf(stderr, "%s: error: cannot read it: %s\n", log->path, strerror(errno));
    return false;
  }
  if (ok && log->records == 0) fprintf(stderr, "%s: error: no epochs in the log\n", log->path);
  return ok && log->records > 0;
}

/* ---- panels ---- */

static int make_panels(const Log *log, Panel *panels) {
  int n = 0;
  for (int i = 0; i < log->ns; i++) {
    const char *key = log->s[i].key;
    int role = 0;
    for (int r = 1; r < 3; r++)
      if (strncmp(key, prefixes[r], strlen(prefixes[r])) == 0) role = r;
    const char *name = key + strlen(prefixes[role]);
    int p = 0;
    while (p < n && strcmp(panels[p].name, name) != 0) p++;
    if (p == n) panels[n++] = (Panel){name, {-1, -1, -1}};
    panels[p].series[role] = i;
  }
  return n;
}

/* the range of the panel's finite values; false if it has none */
static bool data_range(const Log *log, const Panel *p, Frame *fr) {
  bool any = false;
  fr->whole = true;
  for (int r = 0; r < 3; r++)
    for (int k = 0; p->series[r] >= 0 && k < log->s[p->series[r]].n; k++) {
      Point q = log->s[p->series[r]].p[k];
      if (isnan(q.y)) continue;
      fr->xlo = any && fr->xlo < q.x ? fr->xlo : q.x;
      fr->xhi = any && fr->xhi > q.x ? fr->xhi : q.x;
      fr->ylo = any && fr->ylo < q.y ? fr->ylo : q.y;
      fr->yhi = any && fr->yhi > q.y ? fr->yhi : q.y;
      fr->whole &= q.x == floor(q.x);
      any = true;
    }
  return any;
}

/* round y limits at ticks; x padded a little so that end points show whole */
static void fit_axes(Frame *fr) {
  if (fr->yhi - fr->ylo < 1e-300) {
    double pad = fr->ylo != 0 ? fabs(fr->ylo) * 0.1 : 1;
    fr->ylo -= pad;
    fr->yhi += pad;
  }
  fr->ystep = draw_step(fr->yhi - fr->ylo, 5);
  fr->ylo = floor(fr->ylo / fr->ystep) * fr->ystep;
  fr->yhi = ceil(fr->yhi / fr->ystep) * fr->ystep;
  if (fr->xhi - fr->xlo < 1e-300) {
    fr->xlo -= 1;
    fr->xhi += 1;
  }
  fr->xstep = draw_step(fr->xhi - fr->xlo, 8);
  if (fr->xstep < 1 && fr->whole) fr->xstep = 1;
  double pad = (fr->xhi - fr->xlo) * 0.03;
  fr->xlo -= pad;
  fr->xhi += pad;
}

static double px(const Frame *fr, double x) {
  return fr->x0 + (x - fr->xlo) / (fr->xhi - fr->xlo) * fr->w;
}

static double py(const Frame *fr, double y) {
  return fr->y0 + fr->h - (y - fr->ylo) / (fr->yhi - fr->ylo) * fr->h;
}

/* ---- drawing ---- */

static void draw_ticks(cairo_t *cr, const Frame *fr) {
  char label[64];
  cairo_set_font_size(cr, 11);
  cairo_set_line_width(cr, 1);
  double first = ceil(fr->ylo / fr->ystep - 1e-9);
  for (int k = 0; k < 50 && (first + k) * fr->ystep <= fr->yhi + fr->ystep * 1e-9; k++) {
    double v = (first + k) * fr->ystep, y = py(fr, v);
    draw_rgb(cr, 0xe0e0e0);
    cairo_move_to(cr, fr->x0, y);
    cairo_line_to(cr, fr->x0 + fr->w, y);
    cairo_stroke(cr);
    draw_number(label, sizeof label, v, fr->ystep);
    draw_rgb(cr, 0x333333);
    draw_text(cr, fr->x0 - 6, y, 1, 0.5, label);
  }
  first = ceil(fr->xlo / fr->xstep - 1e-9);
  for (int k = 0; k < 50 && (first + k) * fr->xstep <= fr->xhi; k++) {
    double v = (first + k) * fr->xstep, x = px(fr, v);
    draw_rgb(cr, 0x333333);
    cairo_move_to(cr, x, fr->y0 + fr->h);
    cairo_line_to(cr, x, fr->y0 + fr->h + 4);
    cairo_stroke(cr);
    draw_number(label, sizeof label, v, fr->xstep);
    draw_text(cr, x, fr->y0 + fr->h + 6, 0.5, 0, label);
  }
}

/* a line through consecutive values, broken at gaps; a dot on each value
 * when there are few, and on each value alone between gaps always */
static void draw_series(cairo_t *cr, const Frame *fr, const Series *s, int role) {
  draw_rgb(cr, colours[role]);
  cairo_set_line_width(cr, 2);
  double dash[] = {6, 4};
  cairo_set_dash(cr, dash, role == 2 ? 2 : 0, 0);
  for (int k = 0; k < s->n; k++) {
    if (isnan(s->p[k].y)) continue;
    double x = px(fr, s->p[k].x), y = py(fr, s->p[k].y);
    bool joined = k > 0 && !isnan(s->p[k - 1].y);
    if (joined) cairo_line_to(cr, x, y);
    else cairo_move_to(cr, x, y);
  }
  cairo_stroke(cr);
  cairo_set_dash(cr, dash, 0, 0);
  for (int k = 0; k < s->n; k++) {
    bool alone = (k == 0 || isnan(s->p[k - 1].y)) && (k + 1 == s->n || isnan(s->p[k + 1].y));
    if (isnan(s->p[k].y) || (s->n > 60 && !alone)) continue;
    double x = px(fr, s->p[k].x), y = py(fr, s->p[k].y);
    cairo_arc(cr, x, y, 3, 0, 2 * M_PI);
    cairo_fill(cr);
  }
}

/* the values of the panel that fall in a rectangle of the surface */
static int covered(const Log *log, const Frame *fr, const Panel *p, double x, double y, double w,
                   double h) {
  int n = 0;
  for (int r = 0; r < 3; r++)
    for (int k = 0; p->series[r] >= 0 && k < log->s[p->series[r]].n; k++) {
      Point q = log->s[p->series[r]].p[k];
      double qx = px(fr, q.x), qy = py(fr, q.y);
      n += !isnan(q.y) && qx >= x - 4 && qx <= x + w + 4 && qy >= y - 4 && qy <= y + h + 4;
    }
  return n;
}

/* in the corner of the plot that hides the fewest values */
static void draw_legend(cairo_t *cr, const Log *log, const Frame *fr, const Panel *p) {
  cairo_set_font_size(cr, 11);
  int n = 0, fewest = -1;
  for (int r = 0; r < 3; r++) n += p->series[r] >= 0;
  double w = 110, h = 8 + 16 * n, x = 0, y = 0;
  for (int corner = 0; corner < 4 && fewest != 0; corner++) {
    double cx = corner % 2 ? fr->x0 + 8 : fr->x0 + fr->w - w - 8;
    double cy = corner / 2 ? fr->y0 + fr->h - h - 8 : fr->y0 + 8;
    int hidden = covered(log, fr, p, cx, cy, w, h);
    if (fewest >= 0 && hidden >= fewest) continue;
    fewest = hidden;
    x = cx;
    y = cy;
  }
  cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
  cairo_rectangle(cr, x, y, w, h);
  cairo_fill_preserve(cr);
  draw_rgb(cr, 0xbbbbbb);
  cairo_set_line_width(cr, 1);
  cairo_stroke(cr);
  double row = y + 12;
  for (int r = 0; r < 3; r++) {
    if (p->series[r] < 0) continue;
    double dash[] = {6, 4};
    draw_rgb(cr, colours[r]);
    cairo_set_line_width(cr, 2);
    cairo_set_dash(cr, dash, r == 2 ? 2 : 0, 0);
    cairo_move_to(cr, x + 8, row);
    cairo_line_to(cr, x + 30, row);
    cairo_stroke(cr);
    cairo_set_dash(cr, dash, 0, 0);
    draw_rgb(cr, 0x222222);
    draw_text(cr, x + 36, row, 0, 0.5, roles[r]);
    row += 16;
  }
}

static void draw_frame(cairo_t *cr, const Frame *fr, const char *title) {
  char shown[MAX_KEY + 8];
  snprintf(shown, sizeof shown, "%.60s%s", title, strlen(title) > 60 ? "..." : "");
  draw_rgb(cr, 0x111111);
  cairo_set_font_size(cr, 14);
  draw_text(cr, fr->x0 + fr->w / 2, fr->y0 - 10, 0.5, 1, *shown ? shown : "(no name)");
  cairo_set_font_size(cr, 11);
  draw_text(cr, fr->x0 + fr->w / 2, fr->y0 + fr->h + 22, 0.5, 0, "epoch");
  draw_rgb(cr, 0x555555);
  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, fr->x0, fr->y0, fr->w, fr->h);
  cairo_stroke(cr);
}

static void draw_panel(cairo_t *cr, const Log *log, const Panel *p, double left, double top) {
  Frame fr = {.x0 = left + 70, .y0 = top + 40, .w = PANEL_W - 70 - 20, .h = PANEL_H - 40 - 50};
  bool any = data_range(log, p, &fr);
  draw_frame(cr, &fr, p->name);
  if (!any) {
    draw_text(cr, fr.x0 + fr.w / 2, fr.y0 + fr.h / 2, 0.5, 0.5, "no values (all null)");
    return;
  }
  fit_axes(&fr);
  draw_ticks(cr, &fr);
  cairo_save(cr);
  cairo_rectangle(cr, fr.x0, fr.y0, fr.w, fr.h);
  cairo_clip(cr);
  for (int r = 0; r < 3; r++)
    if (p->series[r] >= 0) draw_series(cr, &fr, &log->s[p->series[r]], r);
  cairo_restore(cr);
  draw_legend(cr, log, &fr, p);
}

static void draw_all(cairo_t *cr, const Log *log, const Panel *panels, int n, int cols) {
  char header[256];
  snprintf(header, sizeof header, "%.200s: %d epoch%s", log->path, log->records,
           log->records == 1 ? "" : "s");
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  draw_rgb(cr, 0x444444);
  cairo_set_font_size(cr, 12);
  draw_text(cr, 12, HEADER / 2, 0, 0.5, header);
  for (int i = 0; i < n; i++)
    draw_panel(cr, log, &panels[i], (i % cols) * PANEL_W, HEADER + (i / cols) * PANEL_H);
}

/* ---- output ---- */

static cairo_status_t write_picture(FILE *f, bool svg, const Log *log, const Panel *panels,
                                    int n) {
  int cols = n == 1 ? 1 : n <= 4 ? 2 : 3, rows = (n + cols - 1) / cols;
  int w = cols * PANEL_W, h = HEADER + rows * PANEL_H;
  cairo_surface_t *s = svg ? cairo_svg_surface_create_for_stream(draw_write, f, w, h)
                           : cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h);
  cairo_t *cr = cairo_create(s);
  draw_all(cr, log, panels, n, cols);
  cairo_status_t st = cairo_status(cr);
  cairo_destroy(cr);
  if (!svg && st == CAIRO_STATUS_SUCCESS) st = cairo_surface_write_to_png_stream(s, draw_write, f);
  cairo_surface_finish(s);
  if (st == CAIRO_STATUS_SUCCESS) st = cairo_surface_status(s);
  cairo_surface_destroy(s);
  return st;
}

/* .png or .svg (any case); -1 for anything else, after a diagnostic */
static int output_format(const char *path) {
  const char *ext = path ? strrchr(path, '.') : NULL;
  if (!path) fprintf(stderr, "nnd: error: plot needs -o FILE.png or -o FILE.svg\n");
  else if (ext && strcasecmp(ext, ".png") == 0) return 0;
  else if (ext && strcasecmp(ext, ".svg") == 0) return 1;
  else fprintf(stderr,
               "nnd: error: cannot tell the format of '%s': -o takes FILE.png or FILE.svg\n", path);
  return -1;
}

/* the picture into path; a broken file is removed */
static bool save(const char *path, bool svg, const Log *log, const Panel *panels, int n) {
  FILE *f = fopen(path, "wb");
  if (!f) {
    fprintf(stderr, "nnd: error: cannot write '%s': %s\n", path, strerror(errno));
    return false;
  }
  cairo_status_t st = write_picture(f, svg, log, panels, n);
  int err = ferror(f) ? (errno ? errno : EIO) : 0;
  if (fclose(f) != 0 && !err) err = errno ? errno : EIO;
  bool failed = err != 0;
  if (failed || st == CAIRO_STATUS_WRITE_ERROR)
    fprintf(stderr, "nnd: error: cannot write '%s': %s\n", path, strerror(failed ? err : EIO));
  else if (st != CAIRO_STATUS_SUCCESS)
    fprintf(stderr, "nnd: error: cannot draw the plot: %s\n", cairo_status_to_string(st));
  bool ok = !failed && st == CAIRO_STATUS_SUCCESS;
  if (!ok) unlink(path);
  return ok;
}

int cmd_plot(const Cli *c) {
  int format = output_format(c->out);
  if (format < 0) return 2; /* misuse of the command line */
  FILE *f = fopen(c->input, "r");
  if (!f) {
    fprintf(stderr, "nnd: error: cannot open '%s': %s\n", c->input, strerror(errno));
    return 1;
  }
  Log log = {.path = c->input};
  bool ok = read_log(&log, f);
  fclose(f);
  Panel panels[MAX_SERIES];
  int n = ok ? make_panels(&log, panels) : 0;
  if (ok && n == 0) fprintf(stderr, "%s: error: no values to plot, only epochs\n", c->input);
  ok = ok && n > 0 && save(c->out, format == 1, &log, panels, n);
  free_log(&log);
  return ok ? 0 : 1;
}
