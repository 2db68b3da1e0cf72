"""binary_crossentropy on a sigmoid that rounds to exactly 0 and 1, against
PyTorch's BCELoss on the same weights and batch: `write DIR` writes the
weights and batch for `nnd step`, `compare DIR OUT.st` prints the loss and the
gradients of both and exits 1 if they differ (or any is not finite).
Rows: z = 100 with y = 0 and z = -100 with y = 1 (saturated, wrong),
z = 100 with y = 1 (saturated, right), z = 1 with y = 1."""
import math
import sys

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from subnormal_step import read, write  # noqa: E402

X, Y, KERNEL = [1.0, -1.0, 1.0, 0.01], [0.0, 1.0, 1.0, 1.0], 100.0

if sys.argv[1] == "write":
    write(sys.argv[2] + "/weights.st", {"dense_1.kernel": ([1, 1], [KERNEL]), "dense_1.bias": ([1], [0.0])})
    write(sys.argv[2] + "/batch.st", {"x": ([4, 1], X), "y": ([4, 1], Y)})
    sys.exit(0)
ours = read(sys.argv[3])
torch.set_flush_denormal(True)
w = torch.tensor([[KERNEL]], requires_grad=True)
b = torch.tensor([0.0], requires_grad=True)
p = torch.sigmoid(torch.tensor(X).reshape(4, 1) @ w + b)
loss = torch.nn.BCELoss()(p, torch.tensor(Y).reshape(4, 1))
loss.backward()
bad = False
for name, theirs in (("loss", loss.item()), ("grad:dense_1.kernel", w.grad.item()),
                     ("grad:dense_1.bias", b.grad.item())):
    mine = ours[name][0]
    same = math.isfinite(mine) and abs(mine - theirs) <= 1e-4 * max(1.0, abs(theirs))
    print(f"{name}: nnd {mine:.6g} torch {theirs:.6g} {'ok' if same else 'DIFFERENT'}")
    bad |= not same
sys.exit(1 if bad else 0)
