#!/usr/bin/env bash
# Every test: set up (incl. TensorFlow for the oracle tests), build, run the C++ unit tests, then
# the Python suite that checks tfckpt against real TensorFlow. A missing TensorFlow is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
bash scripts/build.sh
echo "== C++ unit tests"
ctest --test-dir build --output-on-failure -j"$(nproc)" | tail -n 3
echo "== clang-format"
files=$(git ls-files '*.cc' '*.h' 2>/dev/null || find include src tools tests -name '*.cc' -o -name '*.h')
clang-format --dry-run --Werror $files
echo "== TensorFlow oracle tests"
export TFCKPT_BIN_DIR="$PWD/build/bin"
exec "${PYTHON:-python3}" -m pytest tests/python -q -p no:cacheprovider
