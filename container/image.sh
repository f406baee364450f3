#!/usr/bin/env bash
# `make image`: builds the image pipeline.yaml names (IMAGE, default
# tiedflow:<project version>) from the Dockerfile, on the TFX 1.16.0 base when
# its registry answers (or TFX_IMAGE=... names a base), else on the stand-in
# base of container/build-base.sh. The base used is kept as the image's label
# tiedflow.base. The host's CA bundle and pip cache are mounted for the build
# steps only (podman); layers are cached, so a rebuild after a code edit
# redoes only the project layer.
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/container/containers.conf}
read -r engine flags <<<"$(container/engine.sh --install)"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
image=${IMAGE:-tiedflow:$version}
tfx=gcr.io/tfx-oss-public/tfx:1.16.0
stand_in=tiedflow-base:py3.10.13-bookworm

if [ -n "${TFX_IMAGE:-}" ]; then
    base=$TFX_IMAGE
elif $engine image inspect "$tfx" >/dev/null 2>&1; then
    base=$tfx
elif [ "$(curl -s -m 10 -o /dev/null -w '%{http_code}' https://gcr.io/v2/ || true)" != 000 ] \
        && $engine pull -q "$tfx" >/dev/null; then
    base=$tfx
else
    echo "image: gcr.io is not reachable; building on the stand-in base $stand_in" >&2
    $engine image inspect "$stand_in" >/dev/null 2>&1 || container/build-base.sh "$engine" "$stand_in"
    base=$stand_in
fi

mounts=()
if [ "$engine" = podman ]; then
    ca=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
    [ -f "$ca" ] && mounts+=(-v "$ca:/run/build/ca.crt:ro")
    cache=$(python3 -m pip cache dir 2>/dev/null || echo "$HOME/.cache/pip")
    mkdir -p "$cache" && mounts+=(-v "$cache:/run/build/pip-cache")
fi
# shellcheck disable=SC2086
$engine build $flags "${mounts[@]}" --build-arg "TFX_IMAGE=$base" \
    --label "tiedflow.base=$base" -t "$image" .
echo "image: $image on $base"
