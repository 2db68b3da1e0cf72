/* draw.c — the small cairo helpers of plot.c and memory.c (draw.h). Text is
 * cairo's toy API with a sans-serif face: enough for axis labels, and the
 * only text API cairo has without pango. */
#include <math.h>

#include "draw.h"

double draw_step(double span, int n) {
  if (!(span > 1e-300) || !isfinite(span) || n < 1) return 1;
  double raw = span / n, mag = pow(10, floor(log10(raw))), f = raw / mag;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

void draw_number(char *buf, size_t cap, double v, double step) {
  if (fabs(v) < step * 1e-9) v = 0; /* not -0 or 1e-17 where the axis crosses zero */
  if (fabs(v) >= 1e7 || (v != 0 && step < 1e-6)) {
    snprintf(buf, cap, "%.4g", v);
    return;
  }
  int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
  snprintf(buf, cap, "%.*f", decimals, v);
}

void draw_text(cairo_t *cr, double x, double y, double ax, double ay, const char *text) {
  cairo_text_extents_t e;
  cairo_font_extents_t f;
  cairo_text_extents(cr, text, &e);
  cairo_font_extents(cr, &f);
  double height = f.ascent + f.descent;
  cairo_move_to(cr, x - ax * e.x_advance, y - ay * height + f.ascent);
  cairo_show_text(cr, text);
}

double draw_text_width(cairo_t *cr, const char *text) {
  cairo_text_extents_t e;
  cairo_text_extents(cr, text, &e);
  return e.x_advance;
}

cairo_status_t draw_write(void *file, const unsigned char *data, unsigned int length) {
  size_t wrote = fwrite(data, 1, length, file);
  return wrote == length ? CAIRO_STATUS_SUCCESS : CAIRO_STATUS_WRITE_ERROR;
}

void draw_rgb(cairo_t *cr, unsigned rgb) {
  cairo_set_source_rgb(cr, (rgb >> 16 & 255) / 255.0, (rgb >> 8 & 255) / 255.0,
                       (rgb & 255) / 255.0);
}
