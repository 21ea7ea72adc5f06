#!/usr/bin/env bash
# Configures and builds tfckpt into ./build (or $BUILD_DIR). Extra arguments go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
PY=${PYTHON:-python3}
extra=()
if pb=$("$PY" -m pybind11 --cmakedir 2>/dev/null); then
  extra+=("-Dpybind11_DIR=$pb" "-DPython_EXECUTABLE=$(command -v "$PY")")
else
  extra+=("-DTFCKPT_BUILD_PYTHON=OFF")
fi
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} "${extra[@]}" "$@" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
