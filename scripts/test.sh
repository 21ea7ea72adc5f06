#!/usr/bin/env bash
# Every test: set up (incl. TensorFlow for the oracle tests), build, run the C++ unit tests and
# the Python suite that checks tfckpt against real TensorFlow; then all of it again with the
# binaries built under AddressSanitizer + UndefinedBehaviorSanitizer; then `pip install .` into
# a fresh virtual environment without TensorFlow and the Python package's own tests there.
# A missing TensorFlow is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
stage() { echo "== $* (at ${SECONDS} s)"; }
stage "clang-format"
clang-format --dry-run --Werror $(git ls-files '*.cc' '*.h')
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD/build/python${PYTHONPATH:+:$PYTHONPATH}"  # the tfckpt package, as built
for variant in release asan; do
  if [[ $variant == release ]]; then
    dir=build
    BUILD_DIR=$dir bash scripts/build.sh
  else
    dir=build-asan
    BUILD_DIR=$dir BUILD_TYPE=Debug bash scripts/build.sh -DTFCKPT_SANITIZE=ON \
      -DTFCKPT_BUILD_PYTHON=OFF
  fi
  stage "C++ unit tests ($variant)"
  ctest --test-dir "$dir" --output-on-failure -j"$(nproc)" | tail -n 3
  ./"$dir"/bin/custom_sink examples/models/ab/model-ab >/dev/null
  stage "TensorFlow oracle tests ($variant)"
  TFCKPT_BIN_DIR="$PWD/$dir/bin" "$PY" -m pytest tests/python -q -p no:cacheprovider --durations=8
done
stage "benchmark smoke run (every job once, tiny inputs; outputs compared with TensorFlow's)"
"$PY" bench/run.py --smoke --bin "$PWD/build/bin"
stage "fuzzing: every target ${FUZZ_SECONDS:-30} s (clang, ASan + UBSan)"
bash scripts/fuzz.sh
stage "Python package tests with ml_dtypes and safetensors present (the build's module)"
TFCKPT_CLI="$PWD/build/bin/tfckpt" "$PY" -m pytest tests/pypkg -q -p no:cacheprovider
stage "pip install . into a virtual environment without TensorFlow (nor ml_dtypes)"
venv=build/venv-notf
rm -rf "$venv"
"$PY" -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check . pytest
unset PYTHONPATH
TFCKPT_CLI="$PWD/$venv/bin/tfckpt" "$venv/bin/python" -m pytest tests/pypkg -q -p no:cacheprovider
stage "all tests passed"
