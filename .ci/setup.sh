#!/usr/bin/env bash
# Installs what nnd needs on Debian 12 (Debian packages only, through apt)
# and builds it into build/. Safe to run again: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(gcc make cmake pkg-config flex bison llvm-19-dev llvm-19-tools libffi-dev zlib1g-dev
          libjansson-dev libcairo2-dev
          python3 python3-torch python3-sklearn python3-networkx gzip patch graphviz dataset-fashion-mnist fortunes)
bash .ci/install.sh "${packages[@]}"

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"

# the graphs of examples/gcn.nnd and bench/ (karate from networkx, a seeded
# stochastic block model), made here rather than downloaded
mkdir -p build/data
[ -s build/data/karate.nodes ] || /usr/bin/python3 examples/data/karate.py build/data
[ -s build/data/sbm.nodes ] || /usr/bin/python3 examples/data/sbm.py build/data
