/* vision.c — the image layers of the .nnd language, on [B, H, W, C]
 * (channels last, as Keras): conv2d (stride, padding, dilation, groups),
 * separable_conv2d, max_pool2d and avg_pool2d (stride, padding), and the
 * global pools.
 *
 * Every layer slides one Window: im2col's attributes (ir/ops.h). Padding
 * `same` is TensorFlow's: ceil(size/stride) positions per axis, the padding
 * they need split with the odd row or column below and right. Sizes written
 * in a file are integers up to 1e9 (int_arg), checked here before they
 * become shapes: the dilated window fits the padded image and its patches
 * fit a tensor (pg_shape_fits's 2^36 elements), so no size overflows and no
 * patch tensor is too large to plan. A window that is one pixel (1x1,
 * stride 1, no padding) takes no im2col: a 1x1 convolution is a matmul. */
#include <stdlib.h>
#include <string.h>

#include "elab.h"

typedef struct {
  int64_t size, stride, dilation;
  int64_t pad[4]; /* rows above and below, columns left and right */
} Window;

enum { FILL_ZEROS, FILL_LOWEST }; /* what padding reads: im2col's fill */

/* a convolution: the window, the output channels, and its parameters */
typedef struct {
  Window w;
  int64_t filters, groups;
  const char *what; /* the kernel's parameter name: kernel, depthwise_kernel */
  bool bias;
  const char *act;
  char layer[FE_MAX_LAYER_NAME + 1];
} Conv;

static bool image_arg(Elab *e, int x, const AstExpr *at) {
  if (x < 0) return false;
  if (rank_of(e, x) == 4 && node(e, x)->shape.dim[0] == PG_BATCH) return true;
  diag_error(at->loc, "'%s' takes images [batch, height, width, channels] (reshape(x, [h, w, "
             "1]) adds a channel axis)", at->str);
  return false;
}

/* the pixels a window spans along an axis: (size - 1) * dilation + 1 (at
 * most 1e18 for sizes up to 1e9) */
static int64_t span(const Window *w) { return (w->size - 1) * w->dilation + 1; }

static bool has_padding(const Window *w) {
  return w->pad[0] || w->pad[1] || w->pad[2] || w->pad[3];
}

/* the window's positions along an axis of `extent` pixels padded by `pads` */
static int64_t positions(const Window *w, int64_t extent, const int64_t *pads) {
  return (extent + pads[0] + pads[1] - span(w)) / w->stride + 1;
}

/* the window size, its stride (by default 1 for a convolution, the window
 * for pooling, as Keras and PyTorch) and dilation (1 if absent) */
static bool window_arg(const AstExpr *size, const AstExpr *stride, const AstExpr *dilation,
                       bool pooling, Window *w) {
  w->dilation = 1;
  if (!int_arg(size, 1, &w->size)) return false;
  w->stride = pooling ? w->size : 1;
  if (stride && !int_arg(stride, 1, &w->stride)) return false;
  return !dilation || int_arg(dilation, 1, &w->dilation);
}

/* TensorFlow's `same` along an axis: ceil(extent / stride) positions */
static void same_padding(const Window *w, int64_t extent, int64_t *pads) {
  int64_t count = (extent + w->stride - 1) / w->stride;
  int64_t total = (count - 1) * w->stride + span(w) - extent;
  pads[0] = total > 0 ? total / 2 : 0;
  pads[1] = total > 0 ? total - pads[0] : 0;
}

/* padding=[ph, pw] (PyTorch's padding=(ph, pw)) or [top, bottom, left, right] */
static bool padding_list(const AstExpr *x, Window *w) {
  int n = x->nargs;
  if (n != 2 && n != 4) {
    diag_error(x->loc, "padding takes 2 sizes [height, width] or 4 [top, bottom, left, right], "
               "got %d", n);
    return false;
  }
  int64_t p[4];
  for (int i = 0; i < n; i++)
    if (!int_arg(x->args[i], 0, &p[i])) return false;
  for (int i = 0; i < 4; i++) w->pad[i] = n == 4 ? p[i] : p[i / 2];
  return true;
}

/* padding=: valid (none, the default), same, a size p (every side: PyTorch's
 * padding=p) or a list (padding_list) */
static bool padding_arg(Elab *e, const AstExpr *x, const PgShape *img, Window *w) {
  memset(w->pad, 0, sizeof w->pad);
  double number;
  if (!x) return true;
  if (x->kind == AST_LIST) return padding_list(x, w);
  if (elab_number(e, x, &number, false)) {
    if (!int_arg(x, 0, &w->pad[0])) return false;
    for (int i = 1; i < 4; i++) w->pad[i] = w->pad[0];
    return true;
  }
  const char *word = word_arg(x);
  if (!word) return false;
  if (strcmp(word, "same") == 0) {
    same_padding(w, img->dim[1], w->pad);
    same_padding(w, img->dim[2], w->pad + 2);
    return true;
  }
  if (strcmp(word, "valid") == 0) return true;
  diag_error(x->loc, "padding is valid, same, a size, [height, width] or [top, bottom, left, "
             "right], not '%s'", word);
  return false;
}

/* the dilated window fits the padded image, and its patches fit a tensor */
static bool window_fits(const Window *w, const PgShape *img, const AstExpr *at) {
  int64_t h = img->dim[1] + w->pad[0] + w->pad[1], wd = img->dim[2] + w->pad[2] + w->pad[3];
  if (h < span(w) || wd < span(w)) {
    char dilated[96] = "", padded[96] = "";
    if (w->dilation > 1)
      snprintf(dilated, sizeof dilated, " (dilation %lld: %lld pixels wide)",
               (long long)w->dilation, (long long)span(w));
    if (h != img->dim[1] || wd != img->dim[2])
      snprintf(padded, sizeof padded, " padded to %lldx%lld", (long long)h, (long long)wd);
    diag_error(at->loc, "'%s': a %lldx%lld window%s does not fit a %lldx%lld image%s", at->str,
               (long long)w->size, (long long)w->size, dilated, (long long)img->dim[1],
               (long long)img->dim[2], padded);
    return false;
  }
  int64_t oh = positions(w, img->dim[1], w->pad), ow = positions(w, img->dim[2], w->pad + 2);
  double values = (double)oh * (double)ow * (double)w->size * (double)w->size * (double)img->dim[3];
  if (values <= (double)PG_MAX_ELEMENTS) return true;
  diag_error(at->loc, "'%s': the %lldx%lld patches of this image would hold %.0f values per "
             "example (at most 2^36)", at->str, (long long)w->size, (long long)w->size, values);
  return false;
}

/* padding= resolved for x's image and checked to fit */
static bool padding(Elab *e, int x, const AstExpr *arg, Window *w, const AstExpr *call) {
  const PgShape *img = &node(e, x)->shape;
  return padding_arg(e, arg, img, w) && window_fits(w, img, call);
}

/* the patches of x under w (im2col); x itself when a patch is one pixel */
static int patches(Elab *e, int x, const Window *w, int fill, PgLoc loc) {
  if (w->size == 1 && w->stride == 1 && !has_padding(w)) return x;
  int64_t attr[IR_MAX_ATTR] = {w->size,   w->stride, w->dilation, w->pad[0],
                               w->pad[1], w->pad[2], w->pad[3],   fill};
  return ir_emit(e->g, IR_OP_IM2COL, 1, &x, attr, loc);
}

/* groups= (1 if absent) divides both the input channels and the filters */
static bool groups_arg(const AstExpr *arg, int64_t channels, Conv *c) {
  c->groups = 1;
  if (!arg) return true;
  if (!int_arg(arg, 1, &c->groups)) return false;
  if (channels % c->groups == 0 && c->filters % c->groups == 0) return true;
  diag_error(arg->loc, "groups=%lld must divide both the %lld input channels and the %lld "
             "filters", (long long)c->groups, (long long)channels, (long long)c->filters);
  return false;
}

/* A grouped convolution of the patches [B, OH, OW, k*k*C]: an output channel
 * of group g sums the window over the C/G input channels of g. The kernel is
 * Keras's [k*k*C/G, F] (columns in group order), read as [k*k, G, C/G, F/G]
 * and multiplied with the patches as [B, OH*OW, k*k, G, C/G, 1] into a
 * broadcast product reduced over the window and the group's channels. The
 * product has F/G values per patch value: the depth multiplier (usually 1)
 * of a depthwise convolution; a wide grouped one pays for it. */
static int grouped(Elab *e, int cols, int64_t channels, const Conv *c, const AstExpr *at) {
  PgLoc loc = at->loc;
  PgShape s = node(e, cols)->shape;
  int64_t taps = c->w.size * c->w.size, g = c->groups, cg = channels / g, fg = c->filters / g;
  double products = (double)pg_numel(&s, 1) * (double)fg;
  if (products > (double)PG_MAX_ELEMENTS) {
    diag_error(loc, "'%s': %lld filters per group make %.0f products per example (at most "
               "2^36)", at->str, (long long)fg, products);
    return -1;
  }
  PgShape flat = {2, {taps * cg, c->filters}};
  int kernel = elab_weight(e, c->layer, c->what, PG_INIT_GLOROT_UNIFORM, flat, loc);
  int k4;
  if (cg == 1) { /* depthwise: [k*k, C*m] is [k*k, G, 1, m] as it is */
    k4 = ir_reshape(e->g, kernel, (PgShape){4, {taps, g, 1, fg}}, loc);
  } else { /* [k*k, C/G, G, F/G] -> [k*k, G, C/G, F/G] */
    int64_t perm[IR_MAX_ATTR] = {0 | 2 << 4 | 1 << 8 | 3 << 12};
    int read = ir_reshape(e->g, kernel, (PgShape){4, {taps, cg, g, fg}}, loc);
    k4 = ir_emit(e->g, IR_OP_TRANSPOSE, 1, &read, perm, loc);
  }
  PgShape windows = {6, {PG_BATCH, s.dim[1] * s.dim[2], taps, g, cg, 1}};
  int product = ir_binary(e->g, IR_OP_MUL, ir_reshape(e->g, cols, windows, loc), k4, loc);
  int64_t axes[IR_MAX_ATTR] = {1 << 2 | 1 << 4};
  int sum = ir_emit(e->g, IR_OP_REDUCE_SUM, 1, &product, axes, loc);
  return ir_reshape(e->g, sum, (PgShape){4, {PG_BATCH, s.dim[1], s.dim[2], c->filters}}, loc);
}

/* the convolution c of x: patches times the kernel, bias, activation */
static int conv(Elab *e, int x, const Conv *c, const AstExpr *at) {
  int cols = patches(e, x, &c->w, FILL_ZEROS, at->loc);
  if (cols < 0) return -1;
  if (c->groups == 1)
    return fe_affine(e, cols, c->filters, c->layer, c->what, c->bias, c->act, at->loc);
  int y = grouped(e, cols, node(e, x)->shape.dim[3], c, at);
  return y < 0 ? -1 : fe_bias_activation(e, y, c->filters, c->layer, c->bias, c->act, at->loc);
}

/* activation= and use_bias= of a convolution; false after a diagnostic */
static bool output_args(const AstExpr *act, const AstExpr *use_bias, Conv *c) {
  c->act = fe_activation_arg(act);
  int bias = bool_arg(use_bias, 1);
  c->bias = bias == 1;
  return c->act && bias >= 0;
}

/* conv2d(x, filters, kernel, stride=1, padding=valid, activation=linear,
 * use_bias=true, name=, dilation=1, groups=1) */
int b_conv2d(Elab *e, Args *a) {
  int x = elab_expr(e, a->arg[0]);
  Conv c = {.what = "kernel"};
  bool image = image_arg(e, x, a->call), counts = int_arg(a->arg[1], 1, &c.filters); /* both */
  if (!image || !counts || !window_arg(a->arg[2], a->arg[3], a->arg[8], false, &c.w)) return -1;
  if (!padding(e, x, a->arg[4], &c.w, a->call) || !output_args(a->arg[5], a->arg[6], &c))
    return -1;
  if (!groups_arg(a->arg[9], node(e, x)->shape.dim[3], &c)) return -1;
  fe_layer_name(a->arg[7], "conv2d", &e->nconv, c.layer, sizeof c.layer);
  return conv(e, x, &c, a->call);
}

/* separable_conv2d(x, filters, kernel, depth_multiplier=1, stride=1,
 * padding=valid, dilation=1, activation=linear, use_bias=true, name=), as
 * Keras's SeparableConv2D: a depthwise convolution (groups = channels, no
 * bias, <name>.depthwise_kernel [k*k, C*depth_multiplier]), then a 1x1 one
 * (<name>.pointwise_kernel [C*depth_multiplier, filters], <name>.bias) */
int b_separable_conv2d(Elab *e, Args *a) {
  int x = elab_expr(e, a->arg[0]);
  int64_t multiplier = 1;
  Conv depthwise = {.what = "depthwise_kernel", .act = "linear"};
  Conv pointwise = {.w = {1, 1, 1, {0}}, .groups = 1, .what = "pointwise_kernel"};
  bool image = image_arg(e, x, a->call), counts = int_arg(a->arg[1], 1, &pointwise.filters);
  if (!image || !counts || (a->arg[3] && !int_arg(a->arg[3], 1, &multiplier))) return -1;
  if (!window_arg(a->arg[2], a->arg[4], a->arg[6], false, &depthwise.w)) return -1;
  if (!padding(e, x, a->arg[5], &depthwise.w, a->call)) return -1;
  if (!output_args(a->arg[7], a->arg[8], &pointwise)) return -1;
  int64_t channels = node(e, x)->shape.dim[3];
  if (multiplier > PG_MAX_ELEMENTS / channels) {
    diag_error(a->arg[3]->loc, "depth_multiplier=%lld makes more than 2^36 channels",
               (long long)multiplier);
    return -1;
  }
  depthwise.groups = channels;
  depthwise.filters = channels * multiplier;
  fe_layer_name(a->arg[9], "separable_conv2d", &e->nseparable, depthwise.layer,
                sizeof depthwise.layer);
  memcpy(pointwise.layer, depthwise.layer, sizeof pointwise.layer);
  int y = conv(e, x, &depthwise, a->call);
  return y < 0 ? -1 : conv(e, y, &pointwise, a->call); /* 1x1: a matmul */
}

/* the windows of x as [B, h, size, w, size, C] without a copy: when they
 * tile the image exactly (stride = size, size divides height and width, no
 * padding) */
static int tiled_windows(Elab *e, int x, const Window *w, PgLoc loc) {
  PgShape s = node(e, x)->shape;
  int64_t size = w->size;
  if (has_padding(w) || w->stride != size || s.dim[1] % size || s.dim[2] % size) return -1;
  PgShape tiles = {6, {PG_BATCH, s.dim[1] / size, size, s.dim[2] / size, size, s.dim[3]}};
  return ir_reshape(e->g, x, tiles, loc);
}

/* a pooling window never holds padding alone: an explicit padding is at most
 * half the window (PyTorch's rule; `same` needs less) */
static bool pool_padding_ok(const Window *w, const AstExpr *arg) {
  for (int i = 0; i < 4; i++)
    if (w->pad[i] > w->size / 2) {
      diag_error(arg->loc, "pooling padding %lld is more than half the %lldx%lld window",
                 (long long)w->pad[i], (long long)w->size, (long long)w->size);
      return false;
    }
  return true;
}

/* the sum or max of each window: over the window axes of a reshape when the
 * windows tile the image, else over the patches (im2col, padding the lowest
 * float for max) regrouped as [..., window, channel]. Both walk a window row
 * by row, so sums come out the same either way. */
static int window_reduce(Elab *e, int x, const Window *w, bool max, PgLoc loc) {
  int64_t axes[IR_MAX_ATTR] = {1 << 2 | 1 << 4}, channels = node(e, x)->shape.dim[3];
  int windows = tiled_windows(e, x, w, loc);
  if (windows < 0) {
    int cols = patches(e, x, w, max ? FILL_LOWEST : FILL_ZEROS, loc);
    if (cols < 0) return -1;
    PgShape c = node(e, cols)->shape;
    PgShape split = {5, {PG_BATCH, c.dim[1], c.dim[2], w->size * w->size, channels}};
    windows = ir_reshape(e->g, cols, split, loc);
    axes[0] = 1 << 3;
  }
  return ir_emit(e->g, max ? IR_OP_REDUCE_MAX : IR_OP_REDUCE_SUM, 1, &windows, axes, loc);
}

/* the image pixels (not padding) a window holds at each of its positions
 * along one axis, as a constant [count, 1, ...] of `rank` axes */
static int pixels_held(Elab *e, const Window *w, int64_t extent, const int64_t *pads, int rank,
                       PgLoc loc) {
  int64_t count = positions(w, extent, pads);
  if (count > IR_MAX_DATA) {
    diag_error(loc, "average pooling without its padding over %lld window positions (at most "
               "%d)", (long long)count, IR_MAX_DATA);
    return -1;
  }
  float *held = malloc((size_t)count * sizeof *held);
  if (!held) {
    diag_error(loc, "out of memory");
    return -1;
  }
  for (int64_t o = 0; o < count; o++) {
    int64_t first = pads[0] - o * w->stride, end = extent + first; /* the image, in taps */
    held[o] = (float)((end < w->size ? end : w->size) - (first > 0 ? first : 0));
  }
  PgShape s = {rank, {count}};
  for (int i = 1; i < rank; i++) s.dim[i] = 1;
  int id = ir_data(e->g, s, held, loc);
  free(held);
  return id;
}

/* window sums [B, OH, OW, 1, C] (or the tiled [B, OH, 1, OW, 1, C]) as
 * means: over the whole window (count_include_pad, PyTorch's default), or
 * over the image pixels it holds (Keras's `same`) */
static int window_mean(Elab *e, int sum, const Window *w, const PgShape *img, bool include,
                       PgLoc loc) {
  if (include || !has_padding(w)) {
    int window = cst(e, (double)(w->size * w->size), loc);
    return ir_binary(e->g, IR_OP_DIV, sum, window, loc);
  }
  int rows = pixels_held(e, w, img->dim[1], w->pad, 4, loc);
  int columns = pixels_held(e, w, img->dim[2], w->pad + 2, 3, loc);
  int held = ir_binary(e->g, IR_OP_MUL, rows, columns, loc);
  return ir_binary(e->g, IR_OP_DIV, sum, held, loc);
}

/* max_pool2d(x, size, stride=size, padding=valid) and avg_pool2d(...,
 * count_include_pad=true): each channel apart */
static int pool(Elab *e, Args *a, bool max) {
  PgLoc loc = a->call->loc;
  int x = elab_expr(e, a->arg[0]);
  Window w;
  if (!image_arg(e, x, a->call) || !window_arg(a->arg[1], a->arg[2], NULL, true, &w)) return -1;
  if (!padding(e, x, a->arg[3], &w, a->call) || (a->arg[3] && !pool_padding_ok(&w, a->arg[3])))
    return -1;
  int include = max ? 1 : bool_arg(a->arg[4], 1);
  if (include < 0) return -1;
  PgShape img = node(e, x)->shape;
  int r = window_reduce(e, x, &w, max, loc);
  if (!max) r = window_mean(e, r, &w, &img, include, loc);
  int64_t oh = positions(&w, img.dim[1], w.pad), ow = positions(&w, img.dim[2], w.pad + 2);
  PgShape out = {4, {PG_BATCH, oh, ow, img.dim[3]}};
  return ir_reshape(e->g, r, out, loc);
}

int b_max_pool2d(Elab *e, Args *a) { return pool(e, a, true); }
int b_avg_pool2d(Elab *e, Args *a) { return pool(e, a, false); }

/* the max or mean over the height and width: [B, H, W, C] -> [B, C] */
static int global_pool(Elab *e, Args *a, bool max) {
  PgLoc loc = a->call->loc;
  int x = elab_expr(e, a->arg[0]);
  if (!image_arg(e, x, a->call)) return -1;
  PgShape s = node(e, x)->shape;
  int64_t axes[IR_MAX_ATTR] = {1 << 1 | 1 << 2};
  int r = ir_emit(e->g, max ? IR_OP_REDUCE_MAX : IR_OP_REDUCE_SUM, 1, &x, axes, loc);
  if (!max) r = ir_binary(e->g, IR_OP_DIV, r, cst(e, (double)(s.dim[1] * s.dim[2]), loc), loc);
  return ir_reshape(e->g, r, (PgShape){2, {PG_BATCH, s.dim[3]}}, loc);
}

int b_global_avg_pool2d(Elab *e, Args *a) { return global_pool(e, a, false); }
int b_global_max_pool2d(Elab *e, Args *a) { return global_pool(e, a, true); }
