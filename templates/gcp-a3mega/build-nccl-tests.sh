#!/usr/bin/env bash
# Build NVIDIA's nccl-tests (all_gather_perf, all_reduce_perf, ...) for the a3mega partition.
#
# Where it builds, and why: inside the same enroot/pyxis container that run-nccl-tests.sbatch runs in
# (NVIDIA's PyTorch image), on one a3mega node through srun. This is what Cluster Toolkit's A3 Mega
# example does, for reasons that hold here too: the node image carries the NVIDIA driver but no CUDA
# toolkit or MPI, while the container has nvcc, the NCCL headers and OpenMPI; and binaries built against
# the container's NCCL keep working when the run puts the (same or newer) NCCL of the GPUDirect-TCPXO
# plugin from /var/lib/tcpxo/lib64 first on LD_LIBRARY_PATH.
#
# Usage, on the login node:   bash build-nccl-tests.sh
# Environment:
#   NCCL_TESTS_DIR    shared directory for the checkout and binaries, visible on the compute nodes
#                     (default: $HOME/nccl-tests)
#   CONTAINER_IMAGE   pyxis image to build in; keep it equal to the one the run uses
#                     (default: nvcr.io#nvidia/pytorch:24.04-py3)
#   BUILD_PARTITION   partition whose node does the build (default: a3mega)
#
# Idempotent: a tree already built at the same nccl-tests tag with the same image is left alone; a
# half-built tree (no stamp) is removed and built again.
set -euo pipefail

# Pinned: a release tag of NVIDIA/nccl-tests, never master. Keep in step with run-nccl-tests.sbatch.
readonly NCCL_TESTS_TAG=v2.13.9
readonly NCCL_TESTS_REPO=https://github.com/NVIDIA/nccl-tests.git
readonly DEFAULT_IMAGE='nvcr.io#nvidia/pytorch:24.04-py3'
# H100 is compute capability 9.0; building for it alone takes minutes instead of the default arch list.
readonly GENCODE='-gencode=arch=compute_90,code=sm_90'

nccl_tests_dir=${NCCL_TESTS_DIR:-$HOME/nccl-tests}
image=${CONTAINER_IMAGE:-$DEFAULT_IMAGE}
partition=${BUILD_PARTITION:-a3mega}
tree="$nccl_tests_dir/nccl-tests-$NCCL_TESTS_TAG"
stamp="$tree/.built"
want="$NCCL_TESTS_TAG $image"

if [[ -f $stamp && -x $tree/build/all_gather_perf && "$(<"$stamp")" == "$want" ]]; then
  echo "nccl-tests $NCCL_TESTS_TAG is already built in $tree (image $image); nothing to do."
  exit 0
fi

mkdir -p "$nccl_tests_dir"
# No stamp (or another tag/image): whatever is there is stale or half-built.
rm -rf -- "$tree"

echo "Building nccl-tests $NCCL_TESTS_TAG in $tree on partition $partition, image $image ..."
# The inner script gets its values as arguments, so nothing from this shell is re-parsed inside.
# shellcheck disable=SC2016 # expanded by the container's bash, on purpose
srun --job-name=build-nccl-tests --partition="$partition" --nodes=1 --ntasks=1 \
  --container-image="$image" \
  --container-mounts="$nccl_tests_dir:$nccl_tests_dir" \
  --container-workdir="$nccl_tests_dir" \
  bash -c '
    set -euo pipefail
    repo=$1 tag=$2 tree=$3 gencode=$4 want=$5
    mpicc=$(command -v mpicc) || { echo "error: no mpicc in the container image: nccl-tests needs MPI to span nodes" >&2; exit 1; }
    git clone --quiet --depth 1 --branch "$tag" "$repo" "$tree"
    make -C "$tree" -j "$(nproc)" MPI=1 MPI_HOME="$(dirname "$(dirname "$mpicc")")" \
      CUDA_HOME=/usr/local/cuda NVCC_GENCODE="$gencode"
    printf "%s\n" "$want" > "$tree/.built"
  ' build-nccl-tests "$NCCL_TESTS_REPO" "$NCCL_TESTS_TAG" "$tree" "$GENCODE" "$want"

if [[ ! -x $tree/build/all_gather_perf || ! -f $stamp ]]; then
  echo "error: the build finished but $tree/build/all_gather_perf is missing; see the output above." >&2
  exit 1
fi
echo "Built: $tree/build (all_gather_perf, all_reduce_perf, ...). Next: sbatch run-nccl-tests.sbatch"
