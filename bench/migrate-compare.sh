#!/usr/bin/env bash
# Live migration on this machine (TCG, loopback TCP, no bandwidth cap, downtime limit 300 ms):
# plain QEMU driven over QMP by hand (caps, params, migrate-incoming, migrate, poll query-migrate) vs
# Fabric's MigrationSource/MigrationDestination (pause-before-switchover + switch-over hook, progress
# polling, cleanup), each run alternating A/B; idle guest, then a guest rewriting 400 MiB of memory.
# --cluster: instead, plain QEMU + qemu-nbd by hand vs `fabric vm migrate` in a real 3-node cluster
# (bench/migrate-cluster.sh).
# Usage: bench/migrate-compare.sh [--cluster] [--runs N] [--dirty-mib N]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS=5; DIRTY=400
if [[ "${1:-}" == "--cluster" ]]; then shift; exec bash "$ROOT/bench/migrate-cluster.sh" "$@"; fi
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --dirty-mib) DIRTY="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
dotnet build "$ROOT/bench/Fabric.Bench" -c Release -nologo -v q -clp:ErrorsOnly >/dev/null
BENCH="$ROOT/artifacts/bin/Fabric.Bench/release/Fabric.Bench.dll"
echo "== machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(qemu-system-x86_64 --version | head -1)"
echo "== idle guest (256 MiB)"
dotnet "$BENCH" hypervisor migrate --runs "$RUNS" --memory-mib 256
echo "== busy guest (rewriting $DIRTY MiB)"
dotnet "$BENCH" hypervisor migrate --runs "$RUNS" --dirty-mib "$DIRTY"
