#!/usr/bin/env bash
# The whole test suite against a second build of nnd: `clang` (build-clang/,
# the same flags as build/ but clang's warnings and code generation) or
# `asan` (build-asan/, clang with AddressSanitizer and UndefinedBehaviorSanitizer:
# an out-of-bounds access, a use after free or undefined behaviour ends the
# run that hit it, so its test fails). Installs clang if it is missing.
# usage: bash .ci/suite.sh clang|asan [LIT ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-}
shift || true
case $kind in
  clang) dir=build-clang flags=() ;;
  asan) dir=build-asan flags=(-DNND_SANITIZE=address,undefined) ;;
  *) echo "usage: bash .ci/suite.sh clang|asan [LIT ARGS...]" >&2; exit 2 ;;
esac
bash .ci/install.sh clang libclang-rt-14-dev
CC=clang cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${flags[@]}" > /dev/null
cmake --build "$dir" -j"$(nproc)"
# lit passes the sanitizers' options on to the tests. A finding aborts (a
# signal) rather than exit with status 1, which tests of bad input accept as
# a clean error; leaks at exit are findings too.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-abort_on_error=1:print_stacktrace=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/.ci/lsan.supp:print_suppressions=0}
NND_BUILD_DIR="$PWD/$dir" bash tests/run.sh "$@"
