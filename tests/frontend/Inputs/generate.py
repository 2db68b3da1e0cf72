"""Writes the large or deeply nested .nnd files of the frontend's tests to
stdout: generate.py KIND [N]. Each KIND is one shape of input that once
crashed or took quadratic time (see the test that uses it)."""
import sys

HEAD = "model m {\n  input x: f32[4]\n  input y: i32\n"
LOSS = "  loss sparse_categorical_crossentropy(z, y)\n}\n"


def model(body):
    return HEAD + body + LOSS


def chain(n):  # x + x + ... and a setting 1 + 1 + ...: long, not deep
    terms = " + ".join(["x"] * n)
    return model("  z = %s\n" % terms) + "train {\n  epochs = %s\n}\n" % " + ".join(["1"] * n)


def calls(n):  # relu(relu(...(x)...)): n levels
    return model("  z = %sx%s\n" % ("relu(" * n, ")" * n))


def parens(n):  # ((...(x)...)): n brackets and nothing else
    return "model m {\n  z = %sx%s\n}\n" % ("(" * n, ")" * n)


def lists(n):  # f(x, [f(x, [...]): 2 brackets a level
    return "model m {\n  z = %s%s\n}\n" % ("f(x, [" * n, "]" * n)


def mixed(n):  # x + -(x + -(...)): a right operand and a minus a bracket
    return "model m {\n  z = %sx%s\n}\n" % ("x + -(" * n, ")" * n)


def minus(n):  # - - - x: no brackets at all
    return "model m {\n  z = %sx\n}\n" % ("- " * n)


def statements(n):  # z = z + x, n times
    return model("  z = x\n" + "  z = z + x\n" * n)


def long_list(n):  # reshape(x, [1, 1, ...]): one list of n elements
    return HEAD + "  loss reshape(x, [%s])\n}\n" % ", ".join(["1"] * n)


def long_line(n):  # an error in the middle of a line of about 8n characters
    side = "x + " * n
    return model("  z = %snope + %sx\n" % (side, side))


def errors(n):  # n errors, and an unused input that would be a warning
    return "model m {\n  input unused: f32[1]\n" + "  z = nope\n" * n + "}\n"


def name(n):  # an unknown name of n characters
    return "model m {\n  z = %s\n}\n" % ("q" * n)


def huge(n):  # an error early, then a comment of n characters
    return "model m {\n  input x: f32[4]\n  z = %s\n# %s\n}\n" % ("(" * 1001, "x" * n)


KINDS = {"chain": chain, "calls": calls, "parens": parens, "lists": lists, "mixed": mixed,
         "minus": minus, "statements": statements, "list": long_list, "line": long_line,
         "errors": errors, "name": name, "huge": huge}

if __name__ == "__main__":
    sys.stdout.write(KINDS[sys.argv[1]](int(sys.argv[2])))
