#!/usr/bin/env bash
# The main job on the example checkpoints shipped in examples/: set up, build, then the classic
# way of combining two models (merge them; transfer them into a model), checked, inspected and
# compared. Outputs go to a scratch directory; the examples are only read.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
T=$PWD/build/bin/tfckpt
OUT=$(mktemp -d "${TMPDIR:-/tmp}/tfckpt-demo.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
run() { echo; echo "\$ tfckpt $*"; "$T" "$@" || echo "(exit code $?)"; }
cd examples
echo "== The classic example: model a holds a = 3, model b holds b = 4"
run show models/a/model-a a
run show models/b/model-b b
echo
echo "== Merge both into one checkpoint (TensorFlow's merge_v2_checkpoints, but the inputs stay)"
run merge models/a/model-a models/b/model-b -o "$OUT/merged/model"
run show "$OUT/merged/model" a b --json
echo
echo "== Or fill the combined model (a = b = 1) from each, as init_from_checkpoint does"
run transfer --into models/ab/model-ab --from models/a/model-a --map a=a \
  --from models/b/model-b --map b=b -o "$OUT/transferred/model" --dry-run
run transfer --into models/ab/model-ab --from models/a/model-a --map a=a \
  --from models/b/model-b --map b=b -o "$OUT/transferred/model"
run diff models/ab/model-ab "$OUT/transferred/model"
run verify "$OUT/merged/model" "$OUT/transferred/model"
echo
echo "== Inspect the other examples: mixed dtypes, a partitioned variable, TF2, a SavedModel"
run ls mixed/mixed
run show mixed/mixed emb
run ls tf2 --filter 'kernel|save_counter'
run edit tf2 --strip-optimizer -o "$OUT/stripped/ckpt"
run ls saved_model
run diff tf2@1 tf2
run stats mixed/mixed
run diff tf2@1 tf2 --plot "$OUT/diff.svg"
run stats tf2 --all --check-finite
echo
echo "== A legacy V1 checkpoint (as old model zoos ship them): read it, and convert it to V2"
run ls v1/model.ckpt
run show v1/model.ckpt emb
run edit v1/model.ckpt -o "$OUT/from_v1/model.ckpt"
run diff v1/model.ckpt "$OUT/from_v1/model.ckpt"
echo
echo "== Average the two TF2 steps; convert a BERT-like checkpoint to safetensors, optimizer stripped"
run average --last 2 tf2 -o "$OUT/averaged/ckpt"
run convert bert_like "$OUT/bert.safetensors" --strip-optimizer
run apply recipes/classic-merge.yaml -o "$OUT/recipe/merged"
