#!/usr/bin/python3
"""Writes Zachary's karate club as an nnd graph: OUTDIR/karate.edges and OUTDIR/karate.nodes.

The graph is networkx.karate_club_graph() (34 members, 78 friendships). The edge file lists
each friendship both ways (156 lines, sorted by (src, dst), no weights: networkx's interaction
counts are dropped). Labels are the club each member joined after the split: 0 for 'Mr. Hi',
1 for 'Officer'. Features are the identity (34 one-hot columns), as in Kipf & Welling's karate
experiment, so a model can only tell nodes apart through the graph. One labelled node per class
is in the train split, node 0 (Mr. Hi, the instructor) and node 33 (the officer); every other
node is test. The output is deterministic.

Usage: /usr/bin/python3 examples/data/karate.py OUTDIR
"""
import os
import sys

import networkx as nx

CLUBS = {"Mr. Hi": 0, "Officer": 1}
TRAIN = (0, 33)


def write_edges(path, g):
    pairs = set()
    for u, v in g.edges():
        assert u != v, f"self loop at node {u}"
        pairs.add((u, v))
        pairs.add((v, u))
    with open(path, "w") as f:
        for src, dst in sorted(pairs):
            f.write(f"{src} {dst}\n")
    return len(pairs)


def write_nodes(path, g):
    n = g.number_of_nodes()
    assert sorted(g.nodes()) == list(range(n)), "node ids are not 0..n-1"
    header = ["label", "split"] + [f"f{i}" for i in range(n)]
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for i in range(n):
            label = CLUBS[g.nodes[i]["club"]]
            split = "train" if i in TRAIN else "test"
            onehot = ["1" if j == i else "0" for j in range(n)]
            f.write(",".join([str(label), split] + onehot) + "\n")
    return n


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: karate.py OUTDIR")
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    g = nx.karate_club_graph()
    nedges = write_edges(os.path.join(outdir, "karate.edges"), g)
    nnodes = write_nodes(os.path.join(outdir, "karate.nodes"), g)
    counts = [sum(1 for i in g if CLUBS[g.nodes[i]["club"]] == c) for c in (0, 1)]
    print(f"karate: {nnodes} nodes, {nedges} directed edges, 2 classes ({counts[0]} Mr. Hi, "
          f"{counts[1]} Officer), {nnodes} features, {len(TRAIN)} train / "
          f"{nnodes - len(TRAIN)} test -> {outdir}", file=sys.stderr)


if __name__ == "__main__":
    main()
