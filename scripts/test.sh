#!/usr/bin/env bash
# Every test: set up (incl. TensorFlow for the oracle tests), build, run the C++ unit tests and
# the Python suite that checks tfckpt against real TensorFlow; then all of it again with the
# binaries built under AddressSanitizer + UndefinedBehaviorSanitizer; then the manylinux wheel
# (scripts/wheel.sh) into a fresh virtual environment without TensorFlow and the Python
# package's own tests there.
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
  TFCKPT_SANITIZED=$([[ $variant == asan ]] && echo 1 || echo 0) TFCKPT_BIN_DIR="$PWD/$dir/bin" \
    "$PY" -m pytest tests/python -q -p no:cacheprovider --durations=8
done
stage "benchmark smoke run (every job once, tiny inputs; outputs compared with TensorFlow's)"
"$PY" bench/run.py --smoke --bin "$PWD/build/bin"
stage "fuzzing: every target ${FUZZ_SECONDS:-30} s, one per core at a time (clang, ASan + UBSan)"
bash scripts/fuzz.sh
stage "Python package tests with ml_dtypes and safetensors present (the build's module)"
TFCKPT_CLI="$PWD/build/bin/tfckpt" "$PY" -m pytest tests/pypkg -q -p no:cacheprovider
stage "the manylinux wheel (scripts/wheel.sh) in a venv without TensorFlow (nor ml_dtypes)"
unset PYTHONPATH LD_LIBRARY_PATH
whl=$(bash scripts/wheel.sh)
venv=build/venv-notf
rm -rf "$venv"
"$PY" -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "$whl" pytest "jsonschema>=4.18"
TFCKPT_CLI="$PWD/$venv/bin/tfckpt" "$venv/bin/python" -m pytest tests/pypkg -q -p no:cacheprovider
stage "the same wheel installed with pip --target: the module imports and the command runs"
target=build/wheel-target
rm -rf "$target"
"$venv/bin/pip" install -q --disable-pip-version-check --no-deps --target "$target" "$whl"
(cd /tmp && PYTHONPATH="$OLDPWD/$target" "$OLDPWD/$venv/bin/python" -c 'import sys
import tfckpt, _tfckpt_cli
sys.exit(0 if all("wheel-target" in m.__file__ for m in (tfckpt, _tfckpt_cli)) else 1)')
rm -rf "$venv/lib"/python3*/site-packages/tfckpt "$venv/lib"/python3*/site-packages/_tfckpt_cli.py
PYTHONPATH="$PWD/$target" "$target/bin/tfckpt" ls examples/models/a --json | grep -q '"a"'
stage "all tests passed"
