#!/usr/bin/env bash
# Builds the fuzz targets with clang (-fsanitize=fuzzer,address,undefined)
# into build-fuzz/ and runs each: first its regression inputs once
# (regressions/TARGET/: every input that once crashed it), then SECONDS of
# fuzzing (default 60) from a copy of its seed corpus (corpus/TARGET/), with
# a fixed seed, its dictionary and a bounded input size. New crashes are
# written to build-fuzz/runs/TARGET/; add them to regressions/TARGET/ when
# the bug is fixed. Ends with one line per target and fails if any crashed.
# Installs clang and libFuzzer (Debian's clang, libclang-rt-14-dev) if missing.
# usage: bash tests/fuzz/run.sh [SECONDS] [TARGET...]
#   targets: nnd nnir nnprog safetensors idx npy csv text graph (default: all)
set -uo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
shift $(($# ? 1 : 0))
targets=("$@")
((${#targets[@]})) || targets=(nnd nnir nnprog safetensors idx npy csv text graph)
build=${NND_FUZZ_BUILD:-build-fuzz}

declare -A max_len=([nnd]=4096 [nnir]=32768 [nnprog]=16384 [safetensors]=4096 [idx]=4096 [npy]=4096 [csv]=4096
                      [text]=4096 [graph]=4096)
for t in "${targets[@]}"; do
  [ -n "${max_len[$t]:-}" ] || { echo "fuzz: unknown target '$t'" >&2; exit 2; }
done

bash .ci/install.sh clang libclang-rt-14-dev || exit 2
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNND_FUZZ=ON > /dev/null ||
  exit 2
cmake --build "$build" -j"$(nproc)" --target "${targets[@]/#/fuzz-}" > "$build/build.log" 2>&1 ||
  { tail -30 "$build/build.log"; exit 2; }

# leaks are errors; UBSan's findings abort (the build says -fno-sanitize-recover)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-abort_on_error=1:print_stacktrace=1}
failed=0
for t in "${targets[@]}"; do
  bin="$build/fuzz/fuzz-$t" runs="$build/runs/$t"
  rm -rf "$runs"
  mkdir -p "$runs/corpus"
  cp tests/fuzz/corpus/"$t"/* "$runs/corpus/"
  dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  regressions=()
  if [ -d "tests/fuzz/regressions/$t" ]; then
    mapfile -t regressions < <(find "tests/fuzz/regressions/$t" -type f ! -name '.*' | sort)
  fi
  status=()
  if ((${#regressions[@]})) && ! "$bin" "${regressions[@]}" > "$runs/regressions.log" 2>&1; then
    status+=("a regression input crashes (see $runs/regressions.log)")
  fi
  "$bin" "$runs/corpus" -seed=1 -max_total_time="$seconds" -max_len="${max_len[$t]}" -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="$runs/" -print_final_stats=1 "${dict[@]}" \
    > "$runs/fuzz.log" 2>&1
  rc=$?
  execs=$(grep -oP 'stat::number_of_executed_units: \K[0-9]+' "$runs/fuzz.log" | tail -1)
  cov=$(grep -oP '^#[0-9]+\s+\w+\s+cov: \K[0-9]+' "$runs/fuzz.log" | tail -1)
  if ((rc)); then
    found=$(ls "$runs" | grep -E '^(crash|leak|timeout|oom|slow-unit)-' | head -1)
    status+=("${found:-exit status $rc} (see $runs/fuzz.log)")
  fi
  ((${#status[@]})) && failed=1
  ((${#status[@]})) || status=(ok)
  msg=$(printf '%s; ' "${status[@]}")
  echo "fuzz $t: ${#regressions[@]} regressions, ${execs:-0} runs in ${seconds}s," \
    "cov ${cov:-?}: ${msg%; }"
done
exit "$failed"
