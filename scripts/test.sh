#!/usr/bin/env bash
# Every test: set up (incl. TensorFlow for the oracle tests), build, run the C++ unit tests, then
# the Python suite that checks tfckpt against real TensorFlow; then all of it again with the
# binaries built under AddressSanitizer + UndefinedBehaviorSanitizer. A missing TensorFlow is a
# failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
echo "== clang-format"
clang-format --dry-run --Werror $(git ls-files '*.cc' '*.h')
PY=${PYTHON:-python3}
for variant in release asan; do
  if [[ $variant == release ]]; then
    dir=build
    BUILD_DIR=$dir bash scripts/build.sh
  else
    dir=build-asan
    BUILD_DIR=$dir BUILD_TYPE=Debug bash scripts/build.sh -DTFCKPT_SANITIZE=ON
  fi
  echo "== C++ unit tests ($variant)"
  ctest --test-dir "$dir" --output-on-failure -j"$(nproc)" | tail -n 3
  echo "== TensorFlow oracle tests ($variant)"
  TFCKPT_BIN_DIR="$PWD/$dir/bin" "$PY" -m pytest tests/python -q -p no:cacheprovider
done
