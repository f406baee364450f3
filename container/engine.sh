#!/usr/bin/env bash
# Prints the container engine to use and the flags its build and run commands
# need here, on one line: podman if installed, else docker if its daemon
# answers. With --install, installs podman (container/install-engine.sh) when
# there is neither. Limits come from containers.conf (CONTAINERS_CONF); where
# this machine's hard limit of open files is below the one there, both limits
# go on the command line instead (a --ulimit flag replaces the conf's list).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v podman >/dev/null && ! docker info >/dev/null 2>&1; then
    [ "${1:-}" = --install ] || { echo "engine: neither podman nor a docker daemon (make image installs podman)" >&2; exit 2; }
    "$here/install-engine.sh"
fi
if command -v podman >/dev/null; then engine=podman; else engine=docker; fi
flags=
conf_nofile=$(sed -n 's/.*"nofile=\([0-9]*\):.*/\1/p' "$here/containers.conf")
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$conf_nofile" ]; then
    flags="--ulimit nofile=$hard:$hard --ulimit nproc=32768:32768"
fi
echo "$engine $flags"
