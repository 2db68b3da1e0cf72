"""Writes the large .nnir files of the IR's tests to stdout: generate.py KIND N.
views: a parameter, a chain of N reshapes of it, and an assignment of it
(the verifier once walked the chain recursively); slots: N inputs that all
claim slot 0 (N - 1 verifier errors)."""
import sys


def views(n):
    lines = ['  %0 = param weight zeros "w" {slot = 0} : f32[4]']
    lines += ["  %%%d = reshape(%%%d) : f32[4]" % (i, i - 1) for i in range(1, n + 1)]
    lines += ["  %%%d = neg(%%%d) : f32[4]" % (n + 1, n),
              "  %%%d = assign(%%0, %%%d) : f32[4]" % (n + 2, n + 1)]
    return lines


def slots(n):
    return ['  %%%d = input "x" {slot = 0} : f32[B,4]' % i for i in range(n)]


if __name__ == "__main__":
    body = {"views": views, "slots": slots}[sys.argv[1]](int(sys.argv[2]))
    sys.stdout.write("graph @g {\n" + "\n".join(body) + "\n}\n")
