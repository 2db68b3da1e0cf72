"""Copies a safetensors file, changing its metadata: KEY=VALUE sets a key,
KEY alone removes it; the tensors stay as they are.

usage: set_meta.py IN OUT KEY[=VALUE]...
"""
import json
import struct
import sys

blob = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", blob[:8])[0]
header = json.loads(blob[8 : 8 + n])
meta = header["__metadata__"]
for arg in sys.argv[3:]:
    key, eq, value = arg.partition("=")
    if eq:
        meta[key] = value
    else:
        meta.pop(key, None)
text = json.dumps(header).encode()
text += b" " * (-(len(text) + 8) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(text)) + text + blob[8 + n :])
