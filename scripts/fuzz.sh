#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) into build-fuzz and runs each for
# FUZZ_SECONDS (default 30; one target per core at a time) on a corpus seeded from the
# TensorFlow-written examples. Prints the executions of every target; exits non-zero on the
# first crash (its input is saved in build-fuzz/crashes/ — add it as a regression test and fix
# the bug).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-30}
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTFCKPT_FUZZ=ON -DTFCKPT_BUILD_TESTS=OFF -DTFCKPT_BUILD_PYTHON=OFF >/dev/null
targets="index_table protos string_tensor slice_key checkpoint_state recipe checkpoint v1_checkpoint npz safetensors keras"
# (Only the fuzz targets and the libraries they link: not the command line nor the tools.)
if ! cmake --build build-fuzz -j"$(nproc)" --target $(printf 'fuzz_%s ' $targets) \
     >build-fuzz/build.log 2>&1; then
  grep -E -A6 "error|FAILED" build-fuzz/build.log | head -n 60
  echo "the fuzz targets do not build: see build-fuzz/build.log" >&2
  exit 1
fi
corpus=build-fuzz/corpus
rm -rf "$corpus" build-fuzz/crashes
mkdir -p build-fuzz/crashes
for t in $targets; do
  mkdir -p "$corpus/$t"
done
i=0
for f in $(git ls-files 'examples/*.index'); do
  cp "$f" "$corpus/index_table/seed$i"; cp "$f" "$corpus/protos/seed$i"; i=$((i + 1))
done
for f in $(git ls-files 'examples/*.data-*'); do cp "$f" "$corpus/string_tensor/seed$i"; i=$((i + 1)); done
for f in $(git ls-files 'examples/*checkpoint'); do cp "$f" "$corpus/checkpoint_state/seed$i"; i=$((i + 1)); done
# V1 checkpoints: the example TensorFlow wrote.
for f in $(git ls-files 'examples/v1/*'); do cp "$f" "$corpus/v1_checkpoint/seed$i"; i=$((i + 1)); done
for f in $(git ls-files 'examples/recipes/*.yaml'); do cp "$f" "$corpus/recipe/seed$i"; i=$((i + 1)); done
printf '\0foo\0\001\001\002\200\177\200\201' > "$corpus/slice_key/seed0"
# Keras files: what Keras wrote (below), and inputs that crashed or hung Debian's libhdf5 1.10
# (the reason tfckpt reads HDF5 itself; README "Keras files").
cp fuzz/seeds/keras/* "$corpus/keras/"
# Object graphs TensorFlow wrote (a slot-based optimizer; a Keras model saved as the root).
cp fuzz/seeds/protos/* "$corpus/protos/"
# Whole checkpoints: 2-byte index length, index, data.
for p in examples/mixed/mixed examples/models/a/model-a examples/tf2/ckpt-1; do
  python3 - "$p" "$corpus/checkpoint/seed$i" <<'PY'
import sys
index = open(sys.argv[1] + ".index", "rb").read()
data = open(sys.argv[1] + ".data-00000-of-00001", "rb").read()
open(sys.argv[2], "wb").write(len(index).to_bytes(2, "little") + index + data)
PY
  i=$((i + 1))
done
# npz archives as numpy writes them (stored and deflated, strings, a big-endian array) and
# safetensors files as the format says.
python3 - "$corpus" <<'PY'
import io, json, struct, sys
import numpy as np
out = sys.argv[1]
arrays = {"w": np.arange(6, dtype="<f4").reshape(2, 3), "b": np.array([1, 2], dtype=">i8"),
          "s": np.array([b"ab", b"c"]), "z": np.zeros((0, 2), dtype=np.float64)}
np.savez(out + "/npz/seed-stored.npz", **arrays)
np.savez_compressed(out + "/npz/seed-deflated.npz", **arrays)
header = {"__metadata__": {"k": "v"},
          "w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
          "b": {"dtype": "BF16", "shape": [2], "data_offsets": [24, 28]}}
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
open(out + "/safetensors/seed0", "wb").write(struct.pack("<Q", len(text)) + text + bytes(28))
PY
# Keras 3 files: .keras archives, a .weights.h5 with optimizer state and a bfloat16 layer.
KERAS_BACKEND=tensorflow TF_CPP_MIN_LOG_LEVEL=3 python3 - "$corpus" <<'PY' 2>/dev/null
import sys
import keras
import numpy as np
out = sys.argv[1] + "/keras/"
i = keras.Input((4,), name="x")
h = keras.layers.Dense(3, name="enc1")(i)
h = keras.layers.BatchNormalization(name="bn")(h)
h = keras.layers.Dense(2, name="bf", dtype="bfloat16")(h)
m = keras.Model(i, h, name="m")
m.compile("adam", "mse")
m.fit(np.ones((2, 4)), np.ones((2, 2)), verbose=0)
m.save(out + "seed.keras")
m.save_weights(out + "seed.weights.h5")
# (Without the bfloat16 layer, which a legacy file cannot hold: also written as a legacy file.)
h = keras.layers.Dense(2, name="head")(keras.layers.BatchNormalization(name="bn")(i))
m = keras.Model(i, h, name="m")
m.compile("adam", "mse")
m.fit(np.ones((2, 4)), np.ones((2, 2)), verbose=0)
m.save(out + "seed-float32.keras")
PY
# One target per core at a time (each runs on one thread).
fuzz_one() {
  # Absurd sizes in damaged files must fail cleanly (bad_alloc is caught), not abort.
  ASAN_OPTIONS=allocator_may_return_null=1 ./build-fuzz/bin/fuzz_$1 -max_total_time="$SECONDS_EACH" \
    -timeout=10 -rss_limit_mb=2048 -artifact_prefix=build-fuzz/crashes/$1- "$corpus/$1" \
    >"build-fuzz/$1.log" 2>&1
}
finish() {  # pid target
  if ! wait "$1"; then
    tail -n 40 "build-fuzz/$2.log"
    echo "fuzz_$2 found a crash: see build-fuzz/crashes/" >&2
    exit 1
  fi
  echo "fuzz_$2: $(grep -o 'Done [0-9]* runs' "build-fuzz/$2.log" | tail -n 1) in ${SECONDS_EACH} s"
}
pids=()
names=()
for t in $targets; do
  fuzz_one "$t" &
  pids+=($!)
  names+=("$t")
  if ((${#pids[@]} >= $(nproc))); then
    finish "${pids[0]}" "${names[0]}"
    pids=("${pids[@]:1}")
    names=("${names[@]:1}")
  fi
done
for i in "${!pids[@]}"; do finish "${pids[$i]}" "${names[$i]}"; done
