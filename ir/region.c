/* region.c — the memory a scan needs besides its operands and results: its
 * scratch buffer, laid out here for plan (its size) and codegen (where each
 * part is), so the two cannot disagree.
 *
 * Scratch, every part at a 64-byte boundary, sized for `batch` rows:
 *   the body's own arena (planned: body->arena_bytes);
 *   per carry, two buffers the steps write in turn (a step never writes the
 *   carry it reads);
 *   per sequence operand and per sequence result, a time-major copy
 *   [T, B, ...]: step t's slice is the contiguous block at t*B*step_size, so
 *   the body reads and writes it in place. The operand is transposed in once
 *   before the loop and the result out once after it (sequences are
 *   batch-major [B, T, ...] everywhere else). A sequence the body never
 *   reads gets no copy (nor any work). */
#include <stdlib.h>

#include "ir.h"

#define ALIGN 64

static int64_t aligned(int64_t bytes) { return (bytes + ALIGN - 1) / ALIGN * ALIGN; }

static int64_t step_bytes(const IrNode *n, int64_t batch) { return pg_numel(&n->shape, batch) * 4; }

static bool read(const IrGraph *b, int id) {
  for (int i = id + 1; i < b->count; i++)
    for (int k = 0; k < b->nodes[i].nin; k++)
      if (b->nodes[i].in[k] == id) return true;
  return false;
}

int64_t ir_scan_layout(const IrNode *scan, int64_t batch, int64_t *offset) {
  const IrGraph *b = scan->body;
  int64_t carries = scan->attr[1], seqs = scan->attr[2], length = scan->attr[0];
  int64_t top = aligned(b->arena_bytes);
  for (int slot = 0; slot < b->ninputs + b->noutputs; slot++) {
    bool input = slot < b->ninputs;
    int id = input ? ir_slot_node(b, IR_OP_INPUT, slot)
                   : ir_slot_node(b, IR_OP_OUTPUT, slot - b->ninputs);
    int64_t size = step_bytes(&b->nodes[id], batch), k = input ? slot : slot - b->ninputs;
    offset[slot] = -1;
    if (k < carries) offset[slot] = top, top += aligned(size); /* input slot, then output slot */
    else if ((input && k < carries + seqs && read(b, id)) || !input)
      offset[slot] = top, top += aligned(length * size);
  }
  return top;
}

int64_t ir_buffer_bytes(const IrNode *n, int64_t batch) {
  if (!(ir_op_flags(n->op) & IR_REGION)) return pg_numel(&n->shape, batch) * 4;
  int64_t *offset = pg_malloc(((size_t)n->body->ninputs + n->body->noutputs + 1) * sizeof *offset);
  int64_t bytes = offset ? ir_scan_layout(n, batch, offset) : -1;
  free(offset);
  return bytes;
}
