#!/usr/bin/env sh
# Regenerate the Python modules from verify.proto (needs grpcio-tools, in the `dev` extra).
# tests/serving/test_protocol.py checks that the committed modules match the .proto.
set -eu
cd "$(dirname "$0")/../../.."
python -m grpc_tools.protoc -I . --python_out=. --grpc_python_out=. --pyi_out=. \
    configspec/serving/proto/verify.proto
