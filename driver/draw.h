/* draw.h — what plot.c (training curves) and memory.c (the memory plan)
 * share of drawing with cairo: round tick steps, tick labels, anchored text,
 * and cairo's output to a FILE. */
#ifndef NND_DRAW_H
#define NND_DRAW_H

#include <cairo/cairo.h>
#include <stddef.h>
#include <stdio.h>

/* a round step (1, 2 or 5 times a power of ten) that cuts span into about n
 * parts; 1 for a span that is not a positive finite number */
double draw_step(double span, int n);
/* v as a tick label on an axis with this step: as many decimals as the step needs */
void draw_number(char *buf, size_t cap, double v, double step);
/* text anchored at (x, y): ax and ay are the fractions of its width and
 * height left of and above the anchor (0 left/top, 0.5 centre, 1 right/bottom) */
void draw_text(cairo_t *cr, double x, double y, double ax, double ay, const char *text);
double draw_text_width(cairo_t *cr, const char *text);
/* a cairo_write_func_t: closure is the FILE * to write to */
cairo_status_t draw_write(void *file, const unsigned char *data, unsigned int length);
/* colour from 0xRRGGBB */
void draw_rgb(cairo_t *cr, unsigned rgb);

#endif
