#!/usr/bin/env bash
# Fabric VM runtime vs QEMU by hand, on this machine (TCG):
#   1. time from start to the guest's FABRIC-GUEST-READY marker: VmRuntime.StartAsync (validation, QEMU
#      started paused, QMP handshake, cont) vs the same generated QEMU arguments started directly;
#   2. density: small guests booted one after another until memory, CPU or --max says stop;
#   3. (--cluster) the same guest through a real 3-node cluster: `fabric vm create` (placement, map, the node's
#      reconciler, a 3-replica volume on vhost-user-blk, the lock) to FABRIC-GUEST-READY, and `fabric vm stop`.
# Usage: bench/vm-compare.sh [--runs N] [--memory-mib N] [--density-memory-mib N] [--max N] [--tb-mib N] [--skip-density] [--cluster]
# (--tb-mib: TCG translation cache per guest; QEMU's default lets each guest's RSS grow by ~100 MiB)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUNS=7; MEM=128; DMEM=80; MAX=40; DENSITY=1; TB=""; CLUSTER=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --memory-mib) MEM="$2"; shift 2 ;;
    --density-memory-mib) DMEM="$2"; shift 2 ;;
    --max) MAX="$2"; shift 2 ;;
    --skip-density) DENSITY=0; shift ;;
    --tb-mib) TB="$2"; shift 2 ;;
    --cluster) CLUSTER=1; shift ;;
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

if [[ $CLUSTER == 1 ]]; then
  echo "== through a Fabric cluster (fabric vm create -> FABRIC-GUEST-READY; fabric vm stop)"
  dotnet build "$ROOT/node/Fabric.Node" -c Release -nologo -v q -clp:ErrorsOnly >/dev/null
  dotnet build "$ROOT/cluster/Fabric.Cli" -c Release -nologo -v q -clp:ErrorsOnly >/dev/null
  WORK="$(mktemp -d /tmp/vmcmp.XXXXXX)"
  export FABRIC_ROOT="$ROOT"
  FABRIC="dotnet $ROOT/artifacts/bin/Fabric.Cli/release/fabric.dll --home $WORK/home"
  trap '$FABRIC down --purge >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
  NET=""
  for n in $(seq 230 250); do
    if ! ss -ltn 2>/dev/null | grep -q " 127\.0\.$n\.[123]:7000 "; then NET="127.0.$n"; break; fi
  done
  {
    printf '[cluster]\nname = "vmbench"\nmonitors = ["n1"]\n'
    for i in 1 2 3; do
      printf '\n[[node]]\nname = "n%s"\ngrpc = "%s.%s:7000"\ndata = "%s.%s"\nfailure_domain = "rack1/n%s"\ncapacity = "8GiB"\nvm_memory = "4GiB"\nvm_cpus = 2\n' "$i" "$NET" "$i" "$NET" "$i" "$i"
    done
    printf '\n[[pool]]\nname = "rbd"\nreplicas = 3\nmin_replicas = 2\npg_count = 32\n'
    for r in $(seq 1 "$RUNS"); do printf '\n[[volume]]\nname = "b%s"\npool = "rbd"\nsize = "64MiB"\n' "$r"; done
  } > "$WORK/cluster.toml"
  mkdir -p "$WORK/home/images"
  bash "$ROOT/node/Fabric.Hypervisor/Guest/build-image.sh" "$ROOT/artifacts/guest" >/dev/null
  ln -sfn "$ROOT/artifacts/guest" "$WORK/home/images/tiny"
  $FABRIC up "$WORK/cluster.toml" > "$WORK/up.log" 2>&1 || { cat "$WORK/up.log"; exit 1; }
  now() { date +%s.%N; }
  READY=(); RUNNING=(); STOP=()
  for r in $(seq 1 "$RUNS"); do
    t0=$(now)
    $FABRIC vm create "b$r" --memory "${MEM}MiB" --accel tcg --disk "b$r" --timeout 300 > /dev/null
    t1=$(now)
    node=$($FABRIC vm list --json | tr -d ' \n' | grep -o "\"name\":\"b$r\",\"id\":[0-9]*,\"node\":\"n[0-9]\"" | grep -o 'n[0-9]"$' | tr -d '"')
    log="$WORK/home/run/$node/vms/b$r/console.log"
    for _ in $(seq 3000); do grep -q "FABRIC-GUEST-READY b$r" "$log" 2>/dev/null && break; sleep 0.02; done
    t2=$(now)
    $FABRIC vm stop "b$r" > /dev/null
    t3=$(now)
    RUNNING+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", (b-a)*1000}')")
    READY+=("$(awk -v a="$t0" -v b="$t2" 'BEGIN{printf "%.0f", (b-a)*1000}')")
    STOP+=("$(awk -v a="$t2" -v b="$t3" 'BEGIN{printf "%.0f", (b-a)*1000}')")
    echo "run $r on $node: create->running ${RUNNING[-1]} ms, create->READY ${READY[-1]} ms, stop ${STOP[-1]} ms"
  done
  median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }
  echo
  echo "| through the cluster (median of $RUNS, includes the CLI's own start-up, ~0.4 s each call) | ms |"
  echo "|---|---:|"
  echo "| fabric vm create -> map says running (placement, lock, vhost-user disk of a 3-replica volume, QEMU up) | $(median "${RUNNING[@]}") |"
  echo "| fabric vm create -> FABRIC-GUEST-READY on the console | $(median "${READY[@]}") |"
  echo "| fabric vm stop (ACPI power-off, guest syncs, QEMU gone, lock released, map says stopped) | $(median "${STOP[@]}") |"
fi
