#!/usr/bin/env bash
# Runs a command with a Docker-compatible API at DOCKER_HOST, for kfp.local's
# DockerRunner (`make test-kfp-local`): with podman, its API service on a
# socket of its own, started here and stopped when the command ends (also on
# failure or interrupt); with docker, the daemon's own socket as it is.
# Engine settings come from CONTAINERS_CONF (container/containers.conf), as
# for `make image`.
#   container/kfp-local.sh COMMAND [ARG...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/containers.conf}
read -r engine _ <<<"$("$here/engine.sh")"
if [ "$engine" != podman ]; then
    exec "$@"
fi
dir=$(mktemp -d /tmp/tiedflow-podman-api.XXXXXX)
sock=$dir/podman.sock
podman system service --time=0 "unix://$sock" &
service=$!
trap 'kill "$service" 2>/dev/null; wait "$service" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do
    [ -S "$sock" ] && break
    kill -0 "$service" 2>/dev/null || { echo "kfp-local: podman system service exited" >&2; exit 1; }
    sleep 0.1
done
[ -S "$sock" ] || { echo "kfp-local: no socket at $sock after 10 s" >&2; exit 1; }
export DOCKER_HOST=unix://$sock
"$@"
