#!/usr/bin/env python3
"""picture.py: what tests/pictures/ checks in nnd's pictures, with only the
standard library.

  picture.py png FILE RRGGBB...   the PNG's signature, size in pixels and bytes,
                                  and for each colour whether some pixel has it
                                  exactly (a curve's colour: it was drawn)
  picture.py svg FILE             well-formed XML with an <svg> root, its size
  picture.py memory PLANNED SVG   the memory picture against the planned text
                                  dump: the peak is the arena's size, and each
                                  buffer has the node's kernel and offset
  picture.py dot FILE             a summary's boxes and edges: no edge twice,
                                  no cycle"""
import re
import struct
import sys
import xml.etree.ElementTree as ET
import zlib


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def png_rows(data):
    """the rows of an 8-bit RGB or RGBA PNG, unfiltered"""
    assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG signature'
    pos, idat, header = 8, b'', None
    while pos < len(data):
        n, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b'IHDR':
            header = struct.unpack('>IIBBBBB', body)
        elif kind == b'IDAT':
            idat += body
        pos += 12 + n
    w, h, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 4 if colour == 6 else 3
    raw, stride, rows, prev = zlib.decompress(idat), w * bpp, [], bytearray(w * bpp)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + (0, a, b, (a + b) // 2, paeth(a, b, c))[f]) & 255
        rows.append(line)
        prev = line
    return w, h, bpp, rows


def check_png(path, colours):
    data = open(path, 'rb').read()
    w, h, bpp, rows = png_rows(data)
    print('png %dx%d, %s bytes' % (w, h, 'over 10000' if len(data) > 10000 else len(data)))
    seen = set()
    for line in rows:
        for i in range(0, len(line), bpp):
            seen.add(bytes(line[i:i + 3]))
    for c in colours:
        print('%s: %s' % (c, 'drawn' if bytes.fromhex(c) in seen else 'absent'))


def check_svg(path):
    text = open(path, encoding='utf-8').read()
    root = ET.fromstring(text)
    print('%s %sx%s, %s bytes' % (root.tag.split('}')[-1], root.get('width'), root.get('height'),
                                  'over 10000' if len(text) > 10000 else len(text)))


def check_memory(planned, svg):
    text, picture = open(planned).read(), open(svg).read()
    ET.fromstring(picture)
    arena = int(re.search(r'arena\((\d+)\)', text).group(1))
    label = 'peak: {:,} bytes'.format(arena)
    print('peak label: %s' % ('found' if label in picture else 'missing'))
    drawn = dict((int(n), (int(k), int(o))) for n, k, o in re.findall(
        r'^  %(\d+) [a-z_]+: kernels (\d+) to \d+, offset (\d+),', picture, re.M))
    wrong = 0
    planned = r'^  %(\d+) = ([a-z_]+)\(.*kernel\((\d+)\) arena\((\d+)\)'
    for n, op, k, o in re.findall(planned, text, re.M):
        wrong += drawn.get(int(n)) != (int(k), int(o))
    print('buffers: %d, %d not as planned' % (len(drawn), wrong))


def check_dot(path):
    text = open(path).read()
    edges = re.findall(r'^  (\w+) -> (\w+);', text, re.M)
    boxes = re.findall(r'^ +(\w+) \[label=', text, re.M)
    after = {}
    for a, b in edges:
        after.setdefault(a, []).append(b)
    state = {}

    def cyclic(v):  # depth-first, iteratively
        stack = [(v, iter(after.get(v, [])))]
        state[v] = 1
        while stack:
            u, it = stack[-1]
            w = next(it, None)
            if w is None:
                state[u] = 2
                stack.pop()
            elif state.get(w) == 1:
                return True
            elif w not in state:
                state[w] = 1
                stack.append((w, iter(after.get(w, []))))
        return False

    loops = any(cyclic(v) for v in list(after) if v not in state)
    print('%d boxes, %d edges, %s, %s' % (len(boxes), len(edges),
          'each once' if len(set(edges)) == len(edges) else 'repeated edges',
          'a cycle' if loops else 'acyclic'))


if __name__ == '__main__':
    what, args = sys.argv[1], sys.argv[2:]
    {'png': lambda: check_png(args[0], args[1:]), 'svg': lambda: check_svg(args[0]),
     'memory': lambda: check_memory(args[0], args[1]), 'dot': lambda: check_dot(args[0])}[what]()
