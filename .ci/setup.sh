#!/usr/bin/env bash
# Installs what nnd needs on Debian 12 (Debian packages only, through apt)
# and builds it into build/. Safe to run again: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(gcc make cmake pkg-config flex bison llvm-19-dev llvm-19-tools libffi-dev zlib1g-dev
          python3 python3-torch python3-sklearn gzip patch graphviz dataset-fashion-mnist fortunes)
bash .ci/install.sh "${packages[@]}"

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
