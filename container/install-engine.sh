#!/usr/bin/env bash
# Installs what `make image` and `make test-image` need from Debian, when missing:
# podman with runc (crun refuses this VM's hybrid cgroups), uidmap for rootless
# users, debootstrap for the stand-in base. One apt-get at a time: each waits up
# to 10 minutes for the dpkg lock instead of failing when another one holds it.
set -euo pipefail
need=()
for pair in podman:podman runc:runc debootstrap:debootstrap newuidmap:uidmap; do
    command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
[ ${#need[@]} -eq 0 ] && exit 0
apt_get() { apt-get -o DPkg::Lock::Timeout=600 "$@"; }
apt_get update -qq
DEBIAN_FRONTEND=noninteractive apt_get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
