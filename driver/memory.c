/* memory.c — nnd dump --stage=planned --format=svg: a step's arena as a
 * picture. x is the kernels in schedule order, y the byte offset in the
 * arena; each buffer is a rectangle over the kernels it lives across (from
 * the kernel that writes it to the last that reads it from memory, directly
 * or through a view: passes/plan.c's rule) and over the bytes it holds
 * [offset, offset + size) for the graph's max_batch rows, labelled where the
 * label fits. A dashed line marks the peak, the arena's size, with its bytes.
 *
 * Cairo draws the SVG into the output stream. It draws text as glyph
 * outlines, so a comment after the document says the same in words (the
 * peak, then each buffer), for tools and tests to read. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cairo/cairo-svg.h>

#include "draw.h"
#include "driver.h"

#define WIDTH 1200
#define HEIGHT 680
#define LEFT 100
#define RIGHT 30
#define TOP 70
#define BOTTOM 60

typedef struct {
  int node, start, end; /* kernels, end inclusive */
  int64_t offset, size;
} Buffer;

typedef struct {
  const IrGraph *g;
  Buffer *b;
  int n, kernels, peak_kernel;
  int64_t peak;               /* the arena's size: the top of the highest buffer */
  int64_t most_live;          /* the most bytes live at one kernel, and where */
  int most_live_kernel;
  char peak_label[160];
} Plan;

/* ---- the buffers ---- */

/* end[v]: the last kernel that reads v from memory, at least v's own */
static void live_ends(const IrGraph *g, int *end) {
  ir_last_readers(g, end);
  for (int i = 0; i < g->count; i++)
    if (end[i] < g->nodes[i].group) end[i] = g->nodes[i].group;
}

static bool collect(Plan *p) {
  const IrGraph *g = p->g;
  int *end = pg_malloc(((size_t)g->count + 1) * sizeof *end);
  p->b = pg_malloc(((size_t)g->count + 1) * sizeof *p->b);
  if (!end || !p->b) {
    free(end);
    return false;
  }
  live_ends(g, end);
  p->kernels = g->nkernels;
  for (int i = 0; i < g->count; i++) {
    const IrNode *n = &g->nodes[i];
    int64_t size = ir_owns_arena_buffer(n) ? ir_buffer_bytes(n, g->max_batch) : -1;
    if (size < 0) continue;
    p->b[p->n++] = (Buffer){i, n->group, end[i], n->offset, size};
    if (end[i] + 1 > p->kernels) p->kernels = end[i] + 1;
  }
  free(end);
  return true;
}

/* the peak, where the arena's top is first reached, and the most bytes live at once */
static bool measure(Plan *p) {
  p->peak = p->g->arena_bytes;
  p->peak_kernel = -1;
  for (int i = 0; i < p->n; i++) {
    const Buffer *b = &p->b[i];
    if (b->offset + b->size > p->peak) p->peak = b->offset + b->size;
  }
  for (int i = 0; i < p->n; i++)
    if (p->b[i].offset + p->b[i].size == p->peak &&
        (p->peak_kernel < 0 || p->b[i].start < p->peak_kernel))
      p->peak_kernel = p->b[i].start;
  int64_t *delta = pg_calloc((size_t)p->kernels + 2, sizeof *delta), live = 0;
  if (!delta) return false;
  for (int i = 0; i < p->n; i++) {
    const Buffer *b = &p->b[i];
    delta[b->start] += b->size;
    delta[b->end + !ir_taken_over(p->g, b->node, b->end)] -= b->size; /* in place: once */
  }
  for (int k = 0; k < p->kernels; k++) {
    live += delta[k];
    if (live <= p->most_live) continue;
    p->most_live = live;
    p->most_live_kernel = k;
  }
  free(delta);
  return true;
}

/* 466944 as "466,944" */
static void grouped(char *buf, size_t cap, int64_t v) {
  char digits[32];
  int n = snprintf(digits, sizeof digits, "%" PRId64, v), out = 0;
  for (int i = 0; i < n && out + 2 < (int)cap; i++) {
    if (i > 0 && digits[i - 1] != '-' && (n - i) % 3 == 0) buf[out++] = ',';
    buf[out++] = digits[i];
  }
  buf[out] = 0;
}

/* the unit that suits a size: B, KiB, MiB or GiB (its power of 1024) */
static int unit_of(int64_t scale) {
  int u = 0;
  while (u < 3 && scale >= (int64_t)1 << (10 * (u + 1))) u++;
  return u;
}

static void in_units(char *buf, size_t cap, double bytes, int64_t scale) {
  static const char *const names[] = {"B", "KiB", "MiB", "GiB"};
  int u = unit_of(scale);
  snprintf(buf, cap, "%.4g %s", bytes / (double)((int64_t)1 << (10 * u)), names[u]);
}

static void label_peak(Plan *p) {
  char bytes[32], units[32];
  grouped(bytes, sizeof bytes, p->peak);
  in_units(units, sizeof units, (double)p->peak, p->peak);
  int n = snprintf(p->peak_label, sizeof p->peak_label, "peak: %s bytes (%s)", bytes, units);
  if (p->peak_kernel >= 0 && n > 0 && (size_t)n < sizeof p->peak_label)
    snprintf(p->peak_label + n, sizeof p->peak_label - n, " from kernel %d", p->peak_kernel);
}

/* ---- drawing ---- */

typedef struct {
  double x0, y0, w, h, ymax;
  int kernels;
} Axes;

static double kx(const Axes *a, double k) { return a->x0 + k / a->kernels * a->w; }
static double by(const Axes *a, double bytes) { return a->y0 + a->h - bytes / a->ymax * a->h; }

/* a pale colour for each node, neighbours apart */
static void buffer_colour(cairo_t *cr, int node) {
  static const unsigned pale[] = {0xaec7e8, 0xffbb78, 0x98df8a, 0xff9896, 0xc5b0d5, 0xc49c94,
                                  0xf7b6d2, 0xdbdb8d, 0x9edae5, 0xd9d9d9, 0xfdd0a2, 0xc7e9c0};
  draw_rgb(cr, pale[(unsigned)node * 7u % (sizeof pale / sizeof *pale)]);
}

/* "%12 matmul", or "%12", or nothing, whichever fits the rectangle */
static void label_buffer(cairo_t *cr, const Plan *p, const Buffer *b, double x, double y,
                         double w, double h) {
  char text[64];
  if (h < 11) return;
  snprintf(text, sizeof text, "%%%d %s", b->node, ir_op_name(p->g->nodes[b->node].op));
  if (draw_text_width(cr, text) > w - 4) snprintf(text, sizeof text, "%%%d", b->node);
  if (draw_text_width(cr, text) > w - 4) return;
  draw_rgb(cr, 0x202020);
  draw_text(cr, x + 2, y + h / 2, 0, 0.5, text);
}

static void draw_buffers(cairo_t *cr, const Plan *p, const Axes *a) {
  cairo_set_font_size(cr, 9);
  cairo_set_line_width(cr, 0.6);
  for (int i = 0; i < p->n; i++) {
    const Buffer *b = &p->b[i];
    double x = kx(a, b->start), w = kx(a, b->end + 1) - x;
    double top = by(a, (double)(b->offset + b->size)), h = by(a, (double)b->offset) - top;
    if (h < 1.5) { /* a few bytes still show */
      top -= 1.5 - h;
      h = 1.5;
    }
    cairo_rectangle(cr, x, top, w, h);
    buffer_colour(cr, b->node);
    cairo_fill_preserve(cr);
    draw_rgb(cr, 0x404040);
    cairo_stroke(cr);
    label_buffer(cr, p, b, x, top, w, h);
  }
}

static void draw_y_axis(cairo_t *cr, const Plan *p, const Axes *a) {
  char label[48];
  double unit = (double)((int64_t)1 << (10 * unit_of(p->peak)));
  double step = draw_step(a->ymax / unit, 6) * unit; /* round in the labels' unit */
  for (int k = 0; k < 50 && k * step <= a->ymax; k++) {
    double y = by(a, k * step);
    draw_rgb(cr, 0xe8e8e8);
    cairo_move_to(cr, a->x0, y);
    cairo_line_to(cr, a->x0 + a->w, y);
    cairo_stroke(cr);
    in_units(label, sizeof label, k * step, p->peak);
    draw_rgb(cr, 0x333333);
    draw_text(cr, a->x0 - 6, y, 1, 0.5, label);
  }
  cairo_save(cr);
  cairo_translate(cr, 18, a->y0 + a->h / 2);
  cairo_rotate(cr, -M_PI / 2);
  draw_text(cr, 0, 0, 0.5, 0.5, "arena offset");
  cairo_restore(cr);
}

static void draw_x_axis(cairo_t *cr, const Axes *a) {
  char label[32];
  double step = draw_step(a->kernels, 12);
  step = step < 1 ? 1 : step;
  draw_rgb(cr, 0x333333);
  for (int k = 0; k < 100 && k * step < a->kernels; k++) {
    double x = kx(a, k * step + 0.5);
    cairo_move_to(cr, x, a->y0 + a->h);
    cairo_line_to(cr, x, a->y0 + a->h + 4);
    cairo_stroke(cr);
    snprintf(label, sizeof label, "%.0f", k * step);
    draw_text(cr, x, a->y0 + a->h + 6, 0.5, 0, label);
  }
  draw_text(cr, a->x0 + a->w / 2, a->y0 + a->h + 26, 0.5, 0, "kernel (schedule order)");
}

static void draw_peak(cairo_t *cr, const Plan *p, const Axes *a) {
  double y = by(a, (double)p->peak), dash[] = {6, 4};
  cairo_set_source_rgb(cr, 0.8, 0.1, 0.1);
  cairo_set_line_width(cr, 1.5);
  cairo_set_dash(cr, dash, 2, 0);
  cairo_move_to(cr, a->x0, y);
  cairo_line_to(cr, a->x0 + a->w, y);
  cairo_stroke(cr);
  cairo_set_dash(cr, dash, 0, 0);
  if (p->peak_kernel >= 0) {
    double x = kx(a, p->peak_kernel);
    cairo_move_to(cr, x, y);
    cairo_line_to(cr, x - 5, y - 8);
    cairo_line_to(cr, x + 5, y - 8);
    cairo_close_path(cr);
    cairo_fill(cr);
  }
  cairo_set_font_size(cr, 12);
  draw_text(cr, a->x0 + a->w, y - 4, 1, 1, p->peak_label);
}

static void draw_titles(cairo_t *cr, const Plan *p) {
  char title[256], bytes[32], sub[256];
  snprintf(title, sizeof title, "%.80s: the arena for %" PRId64 " rows, %d kernels, %d buffers",
           p->g->name ? p->g->name : "graph", p->g->max_batch, p->kernels, p->n);
  grouped(bytes, sizeof bytes, p->most_live);
  snprintf(sub, sizeof sub, "each buffer from the kernel that writes it to the last that "
           "reads it; most live at once: %s bytes at kernel %d", bytes, p->most_live_kernel);
  draw_rgb(cr, 0x111111);
  cairo_set_font_size(cr, 15);
  draw_text(cr, LEFT, 14, 0, 0, title);
  cairo_set_font_size(cr, 11);
  draw_rgb(cr, 0x555555);
  draw_text(cr, LEFT, 36, 0, 0, sub);
}

static void draw_plan(cairo_t *cr, const Plan *p) {
  Axes a = {LEFT, TOP, WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM,
            p->peak > 0 ? (double)p->peak * 1.1 : 1, p->kernels > 0 ? p->kernels : 1};
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  draw_titles(cr, p);
  cairo_set_font_size(cr, 11);
  cairo_set_line_width(cr, 1);
  draw_y_axis(cr, p, &a);
  draw_x_axis(cr, &a);
  draw_buffers(cr, p, &a);
  if (p->n == 0) draw_text(cr, a.x0 + a.w / 2, a.y0 + a.h / 2, 0.5, 0.5, "no buffers in the arena");
  draw_rgb(cr, 0x555555);
  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, a.x0, a.y0, a.w, a.h);
  cairo_stroke(cr);
  draw_peak(cr, p, &a);
}

/* the figures in words, in an XML comment (which may not hold "--") */
static void print_comment(FILE *out, const Plan *p) {
  fprintf(out, "<!-- nnd memory plan: %s; %d buffers over %d kernels, max_batch %" PRId64 "\n",
          p->peak_label, p->n, p->kernels, p->g->max_batch);
  for (int i = 0; i < p->n; i++) {
    const Buffer *b = &p->b[i];
    fprintf(out, "  %%%d %s: kernels %d to %d, offset %" PRId64 ", %" PRId64 " bytes\n", b->node,
            ir_op_name(p->g->nodes[b->node].op), b->start, b->end, b->offset, b->size);
  }
  fputs("-->\n", out);
}

bool memory_svg(FILE *out, const IrGraph *g) {
  Plan p = {.g = g};
  if (!collect(&p) || !measure(&p)) {
    free(p.b);
    return false;
  }
  label_peak(&p);
  cairo_surface_t *s = cairo_svg_surface_create_for_stream(draw_write, out, WIDTH, HEIGHT);
  cairo_t *cr = cairo_create(s);
  draw_plan(cr, &p);
  cairo_status_t st = cairo_status(cr);
  cairo_destroy(cr);
  cairo_surface_finish(s);
  if (st == CAIRO_STATUS_SUCCESS) st = cairo_surface_status(s);
  cairo_surface_destroy(s);
  if (st == CAIRO_STATUS_SUCCESS) print_comment(out, &p);
  else fprintf(stderr, "nnd: error: cannot draw the memory plan: %s\n", cairo_status_to_string(st));
  free(p.b);
  return st == CAIRO_STATUS_SUCCESS;
}
