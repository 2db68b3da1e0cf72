"""Writes a small synthetic classification set as gzip'd IDX files.

Each example is a 2x2 u8 image; its label is the index of its brightest pixel
(4 classes), which a linear model can learn exactly. With --size=S the images
are SxS and the label is the brightest quadrant. --break damages the files in
one way, to test the loader's errors.

usage: make_idx.py PREFIX N [--break=truncate|magic|label|shape|trailing|huge] [--size=S]
writes PREFIX-images.gz and PREFIX-labels.gz
"""
import gzip
import random
import struct
import sys


def idx(dims, data, kind=0x08):
    return bytes([0, 0, kind, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + bytes(data)


def main():
    prefix, n = sys.argv[1], int(sys.argv[2])
    opts = dict(a[2:].split("=") for a in sys.argv[3:])
    broken, size = opts.get("break", ""), int(opts.get("size", 2))
    rng = random.Random(7)
    pixels, labels = [], []
    for _ in range(n):
        if size == 2:
            img = rng.sample(range(256), 4)  # distinct values: the argmax is unique
            pixels += img
            labels.append(img.index(max(img)))
            continue
        img = [rng.randrange(256) for _ in range(size * size)]
        h = size // 2
        quads = [sum(img[(r + qr * h) * size + c + qc * h] for r in range(h) for c in range(h)) for qr in (0, 1) for qc in (0, 1)]
        pixels += img
        labels.append(quads.index(max(quads)))
    images = idx([n, size, size] if broken != "shape" else [n, 4, 1, 1], pixels)
    if broken == "shape":
        images = idx([n, 3], pixels[: 3 * n])
    if broken == "label":
        labels[n // 2] = 9
    label_file = idx([n], labels)
    if broken == "truncate":
        images = images[: len(images) // 2]
    if broken == "magic":
        images = b"\x1f\x8b" + images[2:]
    if broken == "huge":  # a header promising 2^32-1 x 65536 x 65536 pixels
        images = idx([0xFFFFFFFF, 65536, 65536], pixels)
    if broken == "trailing":
        label_file += b"\x00"
    with gzip.open(prefix + "-images.gz", "wb") as f:
        f.write(images)
    with gzip.open(prefix + "-labels.gz", "wb") as f:
        f.write(label_file)


main()
