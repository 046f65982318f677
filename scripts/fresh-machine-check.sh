#!/usr/bin/env bash
# Tests the README's promise that two commands set everything up on a fresh machine: builds a
# minimal Debian bookworm root with debootstrap, copies a clean clone of this repository (HEAD,
# committed work only) into it, and runs `scripts/main.sh` and `scripts/test.sh` there as root,
# so nothing the developer machine installed by hand can hide a missing install step.
# Run it whenever scripts/install-deps.sh or the build changes. Needs root and Debian's mirror.
#
#   scripts/fresh-machine-check.sh [ROOT_DIR]     (default /var/tmp/advmoe-fresh-root)
#
# Environment: MIRROR (default http://deb.debian.org/debian), KEEP_ROOT=1 keeps the root
# afterwards, MAIN_ARGS extra arguments for scripts/main.sh (e.g. "--train-limit 2048"),
# RUN_CI=1 also runs what CI adds to the test command (scripts/sanitize-check.sh: clang, the
# ASan + UBSan suite and the fuzz targets) in the same root.
# Exit code: 0 when both commands succeed; the log of each is in ROOT_DIR.log/.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
root=${1:-/var/tmp/advmoe-fresh-root}
mirror=${MIRROR:-http://deb.debian.org/debian}
logs="$root.log"

[ "$(id -u)" -eq 0 ] || { echo "fresh-machine-check: needs root (debootstrap, chroot)" >&2; exit 2; }
command -v debootstrap >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap
}

cleanup() {
  for m in dev/pts dev proc sys; do umount -l "$root/$m" 2>/dev/null || true; done
  [ "${KEEP_ROOT:-0}" = 1 ] || rm -rf "$root"
}
trap cleanup EXIT
cleanup
mkdir -p "$logs"

echo "fresh-machine-check: debootstrap bookworm (minbase) into $root"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$logs/debootstrap.log" 2>&1 || {
  tail -20 "$logs/debootstrap.log"
  exit 1
}
echo "deb $mirror bookworm main" >"$root/etc/apt/sources.list"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"

# A clean clone: only what is committed travels, as on a user's machine.
git clone -q --no-hardlinks "$repo" "$root/advmoe"
echo "fresh-machine-check: $(git -C "$root/advmoe" log -1 --format='%h %s')"

status=0
run_step() {
  local name=$1
  shift
  local start=$SECONDS
  if chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    /bin/bash -c "cd /advmoe && $*" >"$logs/$name.log" 2>&1; then
    echo "fresh-machine-check: $name passed ($((SECONDS - start)) s)"
  else
    echo "fresh-machine-check: $name FAILED ($((SECONDS - start)) s); last lines of $logs/$name.log:"
    tail -30 "$logs/$name.log"
    status=1
  fi
}
run_step main "scripts/main.sh ${MAIN_ARGS:-}"
run_step test "scripts/test.sh"
[ "${RUN_CI:-0}" = 1 ] && run_step sanitize "scripts/sanitize-check.sh 20"
grep -E "final (test|robust) accuracy" "$logs/main.log" || true
grep -E "tests passed|tests failed" "$logs/test.log" || true
exit $status
