#!/usr/bin/env bash
# Fetch, here, the wheels the GPU check needs and a GPU machine's image may lack (the peers of the speed benchmark):
# lightly (its SimCLRTransform and NTXentLoss, the standard-pipeline peer) and kornia (the GPU-augmentation peer).
# They land in .whl/ (ignored by git); bench/gpu_check.sh installs them there, offline, when .whl/ travels with it.
#
#   bash bench/gpu_wheels.sh [PYTHON_VERSION]      # default 3.12, the GPU image's Python
set -eu
PYV="${1:-3.12}"
PIP="${PIP:-.venv/bin/python -m pip}"
mkdir -p .whl
for spec in lightly==1.6.0 kornia==0.9.0 kornia_rs==0.2.0; do
  $PIP download --quiet --no-deps --only-binary=:all: --python-version "$PYV" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl "$spec"
done
ls -la .whl
