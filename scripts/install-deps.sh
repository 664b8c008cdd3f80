#!/bin/sh
# Installs every Debian package qcraft needs to build, test and run its default job.
# Idempotent: packages already present are skipped by apt-get itself; when everything is
# present no index update is made, so a second run is instant and works offline.
set -eu

PKGS="build-essential cmake pkg-config zlib1g-dev
libopenblas-dev libyaml-dev check libpng-dev libjpeg62-turbo-dev
libprotobuf-c-dev protobuf-c-compiler libonnx-dev
dataset-fashion-mnist libonnx-testdata
openmpi-bin libopenmpi-dev chromium python3"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    echo "install-deps: all packages present"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
