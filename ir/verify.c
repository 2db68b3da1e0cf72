/* verify.c — structural invariants of a graph, checked between passes:
 * operand counts match the op table, operands precede their users (SSA in
 * topological order), each node's type is what its shape rule derives, and
 * parameters and assignments are well formed. A failure names the node, the
 * pass that ran last and the .nnd location the node came from. */
#include "ir.h"

static bool fail(const IrNode *n, int id, const char *pass, const char *what) {
  diag_error(n->loc, "verifier: %%%d (%s) after pass '%s': %s", id, ir_op_name(n->op),
             pass ? pass : "(none)", what);
  return false;
}

static bool verify_node(IrGraph *g, int id, const char *pass) {
  IrNode *n = &g->nodes[id];
  if (n->nin != ir_op_arity(n->op)) return fail(n, id, pass, "wrong number of operands");
  for (int i = 0; i < n->nin; i++)
    if (n->in[i] < 0 || n->in[i] >= id) return fail(n, id, pass, "operand does not precede its use");
  if (n->op == IR_OP_PARAM && n->role == IR_ROLE_NONE) return fail(n, id, pass, "parameter without a role");
  if (n->op == IR_OP_ASSIGN && ir_node(g, n->in[0])->op != IR_OP_PARAM)
    return fail(n, id, pass, "assignment to something that is not a parameter");
  IrNode copy = *n;
  int before = diag_error_count();
  if (!ir_infer_type(g, &copy)) return fail(n, id, pass, "operands no longer type-check");
  if (diag_error_count() != before) return false;
  if (copy.dtype != n->dtype || !ir_shape_eq(&copy.shape, &n->shape))
    return fail(n, id, pass, "recorded type differs from the type its operands give");
  return true;
}

bool ir_verify(IrGraph *g, const char *after_pass) {
  bool ok = true;
  for (int i = 0; i < g->count; i++) ok &= verify_node(g, i, after_pass);
  return ok;
}
