# Prints the vocabulary metadata of a checkpoint (tests/runtime/text-train.test).
import json
import struct
import sys

blob = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", blob[:8])
meta = json.loads(blob[8 : 8 + n])["__metadata__"]
tokens = json.loads(meta["vocab_tokens"])
print("vocab", meta["vocab"])
print(len(tokens), "tokens:", " ".join(t if len(t) > 1 else repr(t) for t in tokens[:9]))
print("last:", repr(tokens[-1]))
