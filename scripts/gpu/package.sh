#!/usr/bin/env bash
# Packs what a lent GPU machine needs to run advmoe without building anything there (the device
# has CUDA, cuDNN and cuBLAS through PyTorch's wheels, but no Debian packages and no network):
#   BUNDLE/bin/{advmoe,test_cuda}   built here with the CUDA backend
#   BUNDLE/lib.tar.xz               lib/: every shared library they load except CUDA's and
#                                   glibc's; glibc/: this machine's glibc and dynamic loader
#                                   (used only when the device's glibc is older than ours)
#   BUNDLE/data/fashion-mnist/      only with --with-data (30 MB) for a real training run
# Then: run(command="scripts/gpu/run-on-device.sh BUNDLE", carry=["BUNDLE"]).
set -euo pipefail
cd "$(dirname "$0")/../.."
bundle=gpu-bundle
with_data=0
for arg in "$@"; do
  case "$arg" in
    --with-data) with_data=1 ;;
    -*) echo "package.sh: unknown option $arg (expected --with-data)" >&2; exit 2 ;;
    *) bundle="$arg" ;;
  esac
done

scripts/build.sh
if ! ldd build/bin/advmoe | grep -q libcudnn; then
  echo "package.sh: build/bin/advmoe has no CUDA backend (CUDA 13 + cuDNN 9 not found?)" >&2
  exit 1
fi

rm -rf "$bundle"
mkdir -p "$bundle/bin" "$bundle/stage/lib" "$bundle/stage/glibc"
cp build/bin/advmoe build/bin/test_cuda "$bundle/bin/"
# The closure of both binaries, CUDA libraries left out (the device has its own, matching its
# driver), symlinks resolved to the names the loader asks for. glibc's pieces go to glibc/: they
# only work with their own loader, so they are used only when the device's loader cannot run us.
ldd build/bin/advmoe build/bin/test_cuda | awk '/=>/ {print $1, $3}' | sort -u |
  while read -r soname path; do
    case "$path" in /usr/local/cuda/*|*libcuda.so*|"") continue ;; esac
    case "$soname" in
      libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|libresolv.so*) dir=glibc ;;
      *) dir=lib ;;
    esac
    cp -L "$path" "$bundle/stage/$dir/$soname"
  done
cp -L /lib64/ld-linux-x86-64.so.2 "$bundle/stage/glibc/"
tar -C "$bundle/stage" -cJf "$bundle/lib.tar.xz" lib glibc
rm -rf "$bundle/stage"
if [ "$with_data" = 1 ]; then
  mkdir -p "$bundle/data/fashion-mnist"
  cp /usr/share/datasets/fashion-mnist/*.gz "$bundle/data/fashion-mnist/"
fi
du -sh "$bundle"
