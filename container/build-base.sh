#!/usr/bin/env bash
# Builds a stand-in for the TFX base image where no container registry is
# reachable: Debian bookworm (debootstrap, minbase) with the Python 3.10.13 that
# pyenv ships on these machines, copied to /usr/local with its prefix
# rewritten, plus g++ and headers for the lock's one source-only package
# (pyfarmhash). The Dockerfile then installs the lock over it, as it does over
# gcr.io/tfx-oss-public/tfx:1.16.0.
#   container/build-base.sh ENGINE TAG
set -euo pipefail
engine=${1:?engine}; tag=${2:?tag}
src=${PYENV_ROOT:-$HOME/.pyenv}/versions/3.10.13
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
[ -x "$src/bin/python3.10" ] || { echo "build-base: no Python 3.10.13 at $src (pyenv install 3.10.13)" >&2; exit 2; }

root=$(mktemp -d /var/tmp/tiedflow-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
# Python's own shared libraries (ssl, ffi, sqlite, ...), the C++ toolchain, and
# the public CA store of Debian (not the host's: a proxy CA never goes in).
debootstrap --variant=minbase \
    --include=ca-certificates,libssl3,libffi8,libsqlite3-0,libbz2-1.0,liblzma5,libreadline8,libncursesw6,libuuid1,libexpat1,zlib1g,g++,libc6-dev \
    bookworm "$root" "$mirror" >/dev/null

# The interpreter, stdlib and pip; not the host's site-packages additions.
tar -C "$src" --exclude='lib/python3.10/site-packages/_sandboxing*' \
    --exclude='__pycache__' -cf - . | tar -C "$root/usr/local" -xf -
# Text files name the pyenv prefix (sysconfig, python-config, pkg-config,
# script shebangs); the binary's RUNPATH is superseded by ldconfig below.
grep -rlI --null "$src" "$root/usr/local" | xargs -0 -r sed -i "s#$src#/usr/local#g"
chroot "$root" /sbin/ldconfig
chroot "$root" /usr/local/bin/python3.10 -c "import ssl, sqlite3, ctypes, bz2, lzma, zlib, uuid; print('base python ok')"
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin

tar -C "$root" -cf - . | "$engine" import \
    --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    - "$tag" >/dev/null
echo "build-base: $tag"
