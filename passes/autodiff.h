/* autodiff.h — internal to the autodiff pass: its state, shared by the
 * rules of the primitive ops (autodiff.c) and the reverse scan
 * (autodiff_scan.c), which runs the same rules over a scan's body. */
#ifndef NND_PASSES_AUTODIFF_H
#define NND_PASSES_AUTODIFF_H

#include "passes.h"

typedef struct {
  IrGraph *g;
  int *grad;    /* gradient of each forward node, -1 = none yet */
  bool *needs;  /* node depends on a weight (in a body: on what the gradient is taken of) */
  PgLoc loc;    /* of the forward node whose backward rule runs */
  int nforward; /* nodes before the backward ones */
  bool recompute_scans; /* a scan's reverse recomputes its steps from the carries (else: saves) */
} Ad;

/* adds gradient contribution d (summed down to x's shape) to x's, if x needs one */
void ps_ad_accumulate(Ad *ad, int x, int d);
/* needs[i] for nodes 0..upto: set for the roots before, or-ed from operands here */
void ps_ad_propagate_needs(Ad *ad, int upto);
/* runs the backward rules from node `from` down, where gradients arrived */
void ps_ad_sweep(Ad *ad, int from);
/* the backward rule of the scan `id`: a reverse scan (autodiff_scan.c) */
void ps_ad_scan(Ad *ad, int id);

#endif
