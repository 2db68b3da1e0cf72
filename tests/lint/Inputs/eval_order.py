#!/usr/bin/env python3
"""eval_order.py [-I DIR]... FILE.c...: where C leaves the order of two side
effects unspecified, which gcc and clang resolve differently: a call with two
or more arguments that call functions (or assign), an operator other than
&&, || and the comma with that on both sides, an initializer list with it in
two or more elements. In nnd such calls make IR nodes, LLVM instructions or
diagnostics, and their order shows in every dump. Prints FILE:LINE: what for
each, from clang's AST (clang -ast-dump=json); exits 1 if there are any.

Calls to the functions in ORDER_FREE do not count: they only read, or
allocate memory whose order nothing sees. Add a function there only if that
holds for it; otherwise make all but one of the arguments first, into locals."""
import concurrent.futures
import json
import os
import subprocess
import sys

ORDER_FREE = {
    # the graph, shapes, strings and math, read only
    'ir_node', 'node', 'rank_of', 'pg_numel', 'pg_shape_eq', 'ir_op_arity', 'ir_op_kind',
    'ir_op_name', 'ir_alias_root', 'pg_role_name', 'pg_init_name', 'pg_dtype_name',
    'pg_entry_kind_name', 'pg_slot_role_name', 'is_const', 'const_equal', 'nd',
    'broadcasts', 'value_at', 'strcmp', 'strncmp', 'strlen', 'strcspn', 'strchr', 'fabs', 'fabsf',
    'floor', 'sqrt', 'log', 'exp', 'pow', 'ceil', 'expf', 'logf', 'sqrtf', 'floorf', 'cosf', 'sinf',
    'powf', '__builtin_signbit', 'fmax', 'fmin', '__builtin_nanf', '__builtin_inff',
    '__builtin_huge_valf',
    # gradcheck's arithmetic on the loss values of a stencil, read only
    'left', 'right', 'estimate', 'spread', 'noise', 'uncertainty',
    # each writes only the buffer it is given
    'tstr', 'pg_shape_str',
    'malloc', 'calloc', 'ir_uses',
    # codegen: constants, types and lookups, which emit nothing
    'i64c', 'f32c', 'dim_value', 'cg_buffer', 'cg_store_buffer', 'LLVMConstInt', 'LLVMConstReal',
    'LLVMConstNull', 'LLVMGetPoison', 'LLVMVectorType', 'LLVMTypeOf', 'LLVMIntrinsicGetType',
    'LLVMGetInsertBlock', 'LLVMGetParam', 'cg_i64', 'row_floats', 'slot_node', 'ir_slot_node',
}


def callee(call):
    fn = call['inner'][0]
    while fn.get('kind') in ('ImplicitCastExpr', 'ParenExpr') and fn.get('inner'):
        fn = fn['inner'][0]
    return fn.get('referencedDecl', {}).get('name', '(pointer)')


def has_effect(node):
    kind, op = node.get('kind'), node.get('opcode')
    if kind == 'CallExpr' and callee(node) not in ORDER_FREE:
        return True
    if kind == 'CompoundAssignOperator' or (kind == 'BinaryOperator' and op == '='):
        return True
    if kind == 'UnaryOperator' and op in ('++', '--'):
        return True
    return any(has_effect(c) for c in node.get('inner', []))


def finding(node):
    kind, op, inner = node.get('kind'), node.get('opcode'), node.get('inner', [])
    if kind == 'CallExpr':
        n = sum(has_effect(a) for a in inner[1:])
        return n >= 2 and 'call to %s: %d arguments have side effects' % (callee(node), n)
    if kind == 'BinaryOperator' and op not in ('&&', '||', ',', '=') and len(inner) == 2:
        both = all(has_effect(a) for a in inner)
        return both and "operator '%s': both operands have side effects" % op
    if kind == 'InitListExpr':
        n = sum(has_effect(a) for a in inner)
        return n >= 2 and 'initializer list: %d elements have side effects' % n
    return None


class Walk:
    """visits the AST in clang's output order, which elides a location's file
    when it is the previous one's: so the current file is a running state"""

    def __init__(self, main):
        self.main, self.file, self.found = main, None, []
        self.lines = open(main, 'rb').read()

    def scan(self, x):
        if isinstance(x, list):
            for v in x:
                self.scan(v)
        elif isinstance(x, dict):
            for k, v in x.items():
                if k == 'file':
                    self.file = v
                elif k != 'includedFrom':
                    self.scan(v)

    def offset(self, begin):
        return begin.get('expansionLoc', begin).get('offset')

    def visit(self, node):
        here = None
        for k, v in node.items():
            if k == 'range':
                self.scan(v.get('begin', {}))
                here = (self.file, self.offset(v.get('begin', {})))
                self.scan(v.get('end', {}))
            elif k == 'inner':
                for c in v:
                    self.visit(c)
            else:
                self.scan(v)
        what = here and here[0] == self.main and here[1] is not None and finding(node)
        if what:
            self.found.append((self.lines.count(b'\n', 0, here[1]) + 1, what))


def lint(path, flags):
    """the findings in one file, as printed lines"""
    out = subprocess.run(['clang', '-fsyntax-only', '-Xclang', '-ast-dump=json', *flags, path],
                         capture_output=True, text=True)
    if out.returncode != 0:
        return ['%s: error: clang could not parse it:\n%s' % (path, out.stderr)]
    w = Walk(path)
    w.visit(json.loads(out.stdout))
    return ['%s:%d: %s' % (path, line, what) for line, what in sorted(set(w.found))]


def main():
    sys.setrecursionlimit(100000)
    args, flags, files = sys.argv[1:], [], []
    while args:
        a = args.pop(0)
        if a == '-I':
            flags.append('-I' + args.pop(0))
        else:
            files.append(a)
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count()) as pool:
        found = [line for lines in pool.map(lambda f: lint(f, flags), files) for line in lines]
    print('\n'.join(found), end='\n' if found else '')
    sys.exit(1 if found else 0)


main()
