#!/usr/bin/env bash
# Installs the Debian packages advmoe needs, only those missing (one apt-get update, then one
# install). Safe to run again: it does nothing when everything is present.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config
  libdnnl-dev            # oneDNN 2.6: CPU kernels
  ocl-icd-opencl-dev     # OpenCL headers + loader: Debian's dnnl-config.cmake requires them
                         # (only a Recommends of libdnnl-dev, which --no-install-recommends skips)
  libhdf5-dev            # checkpoints
  libboost-program-options-dev libboost-test-dev
  zlib1g-dev             # gzip-compressed idx datasets
  libturbojpeg0-dev      # JPEG decoding for Tiny-ImageNet and ImageNet
  dataset-fashion-mnist  # the real data of the main job, in /usr/share/datasets/fashion-mnist
  python3-h5py           # tests that read and craft checkpoints from Python
  python3-numpy          # the same tests (h5py depends on it; named because they import it)
  python3-matplotlib     # advmoe plot: the figures (PNG and SVG)
  libopenmpi-dev openmpi-bin  # data-parallel training: MPI (mpirun) across processes and hosts
  # The sanitizer build and the fuzz targets (scripts/sanitize-check.sh, run by CI): clang with
  # its OpenMP runtime and compiler-rt (ASan, UBSan, libFuzzer).
  clang libomp-14-dev libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
