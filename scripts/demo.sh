#!/usr/bin/env bash
# The main job on the example checkpoints shipped in examples/: set up, build, then inspect,
# verify and compare the classic two-model example and the TF2 / SavedModel examples.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
T=./build/bin/tfckpt
run() { echo; echo "\$ tfckpt $*"; "$T" "$@" || echo "(exit code $?)"; }
run ls examples/models/a/model-a
run ls examples/models/b
run show examples/models/a/model-a a
run show examples/models/b/model-b b --json
run ls examples/mixed/mixed
run show examples/mixed/mixed emb
run ls examples/tf2 --filter 'dense|save_counter'
run ls examples/tf2@1 --filter save_counter
run ls examples/saved_model
run verify examples/models/a/model-a examples/models/b/model-b examples/mixed/mixed examples/tf2 examples/saved_model
run diff examples/tf2@1 examples/tf2
