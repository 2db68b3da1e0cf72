"""The seed LSTM's command-line arguments, shared by its opponents in
bench/rnn.py (rnn_torch.py, rnn_jax.py): one set of defaults for the model
they must all train alike (LSTM(100) -> Dense(50), Adam(lr=0.001), batch 32)."""
import argparse


def seed_parser(description):
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--data", required=True, help="folder with seq.npy and label.npy")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--units", type=int, default=100)
    ap.add_argument("--hidden", type=int, default=50)
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--seed", type=int, default=1)
    return ap
