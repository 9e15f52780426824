#!/usr/bin/env sh
# Generates the Python modules for Schakel's contract from proto/ into
# generated/ (or the folder given), with grpcio-tools.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
proto="$here/../../proto"
out="${1:-$here/generated}"
mkdir -p "$out"
"${PYTHON:-python3}" -m grpc_tools.protoc -I "$proto" --python_out="$out" --grpc_python_out="$out" "$proto"/schakel/v1/*.proto
echo "generated the schakel.v1 modules in $out"
