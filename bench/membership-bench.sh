#!/usr/bin/env bash
# Membership benchmarks (issue 3): map propagation to the 3 nodes of a real cluster, map propagation to
# 1000 watchers in one process, and failure detection time after kill -9. Builds what it runs (release),
# prints a markdown report on stdout (progress on stderr) and keeps a copy in artifacts/bench/.
# Options pass through, e.g.:  bench/membership-bench.sh --only 2 --watchers 1,100,1000 --map-nodes 0,100
# Everything it starts (node processes, the in-process monitor) is stopped before it exits.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# shellcheck source=../.ci/packages.sh
source "$ROOT/.ci/packages.sh"
fabric_install_packages librocksdb7.8 >&2

for project in node/Fabric.Node cluster/Fabric.Cli bench/Fabric.Bench; do
  dotnet build "$project" -c Release -nologo -v q -clp:ErrorsOnly >&2
done

mkdir -p artifacts/bench
out="artifacts/bench/membership-$(date -u +%Y%m%dT%H%M%SZ).md"
status=0
dotnet artifacts/bin/Fabric.Bench/release/Fabric.Bench.dll membership "$@" | tee "$out" || status=$?
echo "membership bench: report saved to $out" >&2
exit "$status"
