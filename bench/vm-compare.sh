#!/usr/bin/env bash
# Fabric VM runtime vs QEMU by hand, on this machine (TCG):
#   1. time from start to the guest's FABRIC-GUEST-READY marker: VmRuntime.StartAsync (validation, QEMU
#      started paused, QMP handshake, cont) vs the same generated QEMU arguments started directly;
#   2. density: small guests booted one after another until memory, CPU or --max says stop.
# Usage: bench/vm-compare.sh [--runs N] [--memory-mib N] [--density-memory-mib N] [--max N] [--tb-mib N] [--skip-density]
# (--tb-mib: TCG translation cache per guest; QEMU's default lets each guest's RSS grow by ~100 MiB)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS=7; MEM=128; DMEM=80; MAX=40; DENSITY=1; TB=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --memory-mib) MEM="$2"; shift 2 ;;
    --density-memory-mib) DMEM="$2"; shift 2 ;;
    --max) MAX="$2"; shift 2 ;;
    --skip-density) DENSITY=0; shift ;;
    --tb-mib) TB="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
dotnet build "$ROOT/bench/Fabric.Bench" -c Release -nologo -v q -clp:ErrorsOnly >/dev/null
BENCH="$ROOT/artifacts/bin/Fabric.Bench/release/Fabric.Bench.dll"
echo "== machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg), $(qemu-system-x86_64 --version | head -1)"
echo "== boot time"
dotnet "$BENCH" hypervisor boot --runs "$RUNS" --memory-mib "$MEM"
if [[ $DENSITY == 1 ]]; then
  echo "== density"
  dotnet "$BENCH" hypervisor density --memory-mib "$DMEM" --max "$MAX" ${TB:+--tb-mib "$TB"}
fi
