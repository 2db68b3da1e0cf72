#!/bin/sh
# print(parse(text)) == text for every example, every stage, every graph:
# `nnd dump` piped through `nnd opt --passes=` (an empty pipeline) must
# reproduce its input byte for byte, but for the comments that end lines
# (the fused stage's fusion explanations), which are not IR.
# usage: roundtrip.sh NND EXAMPLES_DIR OUT_DIR
set -e
nnd=$1 examples=$2 out=$3
mkdir -p "$out"
n=0
for model in "$examples"/*.nnd; do
  for stage in elaborated optimized autodiff fused planned; do
    for graph in train eval grad; do
      f="$out/$(basename "$model" .nnd)-$stage-$graph.nnir"
      "$nnd" dump "$model" --stage=$stage --graph=$graph > "$f"
      "$nnd" opt "$f" --passes= > "$f.again"
      sed 's#  // .*$##' "$f" > "$f.ir"
      cmp "$f.ir" "$f.again"
      n=$((n + 1))
    done
  done
done
echo "round trip: $n dumps reproduced byte for byte"
