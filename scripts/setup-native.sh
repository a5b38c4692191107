#!/usr/bin/env bash
# Fetches the native parts Flightlog loads at run time, pinned by version and
# checked by sha256, into a cache folder outside the checkout. Reuses what is
# already there. Only package registries are needed (npm here).
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

fetch_chdb
