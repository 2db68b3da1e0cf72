"""Prints a graph whose scans nest DEPTH deep (each body holds the next
scan): for the parser's bound on nesting (scan.test)."""
import sys

depth = int(sys.argv[1])


def graph(name, level, indent):
    pad = " " * indent
    lines = [f"{pad}graph @{name} {{", f'{pad}  %0 = input "h" {{slot = 0}} : f32[B,2]']
    if level < depth:
        lines.append(f"{pad}  %1 = scan(%0) {{length = 2, carries = 1, sequences = 0, reverse = 0}} : f32[]")
        lines += graph(f"body{level}", level + 1, indent + 4)
        lines.append(f"{pad}  %2 = result(%1) {{index = 0}} : f32[B,2]")
        lines.append(f'{pad}  %3 = output "h" (%2) {{slot = 0}} : f32[B,2]')
    else:
        lines.append(f'{pad}  %1 = output "h" (%0) {{slot = 0}} : f32[B,2]')
    lines.append(f"{pad}}}")
    return lines


print("\n".join(graph("g", 0, 0)))
