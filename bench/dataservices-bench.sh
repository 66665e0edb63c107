#!/usr/bin/env bash
# Data services on a real 3-node cluster (fabric up on a private loopback /24): clone creation time of a
# 1 GiB golden volume, first-write copy-up cost, deep/light scrub throughput of the pool and the client
# 4 KiB IOPS with and without a deep scrub running (Fabric.Bench dataservices). Prints the bench's JSON
# on stdout (the progress lines on stderr).
#   bench/dataservices-bench.sh [SECONDS]     seconds per IOPS measurement (default 10)
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_PER=${1:-10}
WORK=${DATASERVICES_BENCH_DIR:-/var/tmp/fabric-dataservices-bench}
rm -rf "$WORK"; mkdir -p "$WORK"

pick_subnet() {
  local s
  for s in 181 182 183 191 201 211; do
    ss -ltn 2>/dev/null | grep -q " 127\.0\.$s\." || { echo "127.0.$s"; return; }
  done
  echo "127.0.181"
}
SUBNET=${FABRIC_SUBNET:-$(pick_subnet)}

{
  printf '[cluster]\nname = "dsbench"\nmonitors = ["n1"]\nheartbeat_interval = "500ms"\nheartbeat_grace = "3s"\ndown_out_interval = "60s"\n'
  for i in 1 2 3; do
    printf '\n[[node]]\nname = "n%s"\ngrpc = "%s.%s:7000"\ndata = "%s.%s"\nstorage_port = 6800\nfailure_domain = "rack1/n%s"\ncapacity = "16GiB"\n' \
      "$i" "$SUBNET" "$i" "$SUBNET" "$i" "$i"
  done
  printf '\n[[pool]]\nname = "rbd"\nreplicas = 3\nmin_replicas = 2\npg_count = 64\nfailure_domain = "host"\n'
  printf '\n[[volume]]\nname = "golden"\npool = "rbd"\nsize = "1GiB"\nobject_size = "4MiB"\n'
  printf '\n[[volume]]\nname = "plain"\npool = "rbd"\nsize = "1GiB"\nobject_size = "4MiB"\n'
} >"$WORK/cluster.toml"

down() { "$ROOT/fabric" down --purge --home "$WORK/home" >/dev/null 2>&1 || true; }
trap down EXIT

echo "dataservices-bench: building" >&2
dotnet build "$ROOT/bench/Fabric.Bench" -c Release -nologo -v q -clp:ErrorsOnly >&2 || exit 1
echo "dataservices-bench: starting 3 nodes on $SUBNET.1-3" >&2
"$ROOT/fabric" up "$WORK/cluster.toml" --home "$WORK/home" >"$WORK/up.log" 2>&1 || { echo "fabric up failed: see $WORK/up.log" >&2; exit 1; }
for _ in $(seq 1 240); do
  "$ROOT/fabric" pg list --json --home "$WORK/home" --config "$WORK/cluster.toml" 2>/dev/null \
    | python3 -c 'import json,sys; j=json.load(sys.stdin); sys.exit(0 if j["states"].get("active+clean")==j["total"] else 1)' && break
  sleep 0.5
done
dotnet "$ROOT/artifacts/bin/Fabric.Bench/release/Fabric.Bench.dll" dataservices --monitor "$SUBNET.1:7000" \
  --golden golden --plain plain --seconds "$SECONDS_PER" | tee "$WORK/result.json"
