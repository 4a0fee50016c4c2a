#!/bin/bash
# Checks the libcmap shim the way mdadm uses it (dlopen, cmap_initialize, cmap_get_string of
# totem.cluster_name): from the environment, from block and flow YAML, and refusals.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
gcc -shared -fPIC -O2 -Wall -Wextra -Werror -o "$T/libcmap.so.4" "$HERE/cmapshim.c"
gcc -O2 -Wall -o "$T/drv" "$HERE/shimtest.c" -ldl
printf 'node: {name: n}\ncluster: {name: mdlab}\n' > "$T/flow.yaml"
printf 'node:\n  name: x\ncluster:\n  # c\n  name: "prod-1"  # x\nlock_engine:\n  name: no\n' > "$T/block.yaml"
printf 'cluster:\n  other: 1\nfoo:\n  name: bad\n' > "$T/none.yaml"
printf 'cluster: {name: "a b"}\n' > "$T/bad.yaml"
run() { LD_LIBRARY_PATH=$T "$@" "$T/drv" 2>&1 || true; }
check() { [ "$1" = "$2" ] || { echo "FAIL: $3: got '$1', want '$2'"; exit 1; }; }
check "$(run env MDCLUSTER_CONFIG=$T/flow.yaml)" "rv=1 name=mdlab" "flow YAML"
check "$(run env MDCLUSTER_CONFIG=$T/block.yaml)" "rv=1 name=prod-1" "block YAML"
check "$(run env MDCLUSTER_CONFIG=$T/none.yaml)" "rv=12 name=(null)" "no cluster.name"
check "$(run env MDCLUSTER_CONFIG=$T/bad.yaml)" "rv=12 name=(null)" "invalid name"
check "$(run env MDCLUSTER_CONFIG=$T/none.yaml MDCLUSTER_CLUSTER_NAME=envname)" "rv=1 name=envname" "environment"
check "$(run env MDCLUSTER_CONFIG=$T/missing.yaml)" "rv=12 name=(null)" "missing file"
echo "cmapshim: ok"
