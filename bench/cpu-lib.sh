# CPU accounting for the side-by-side benchmarks (sourced by storage-compare.sh and blk-compare.sh).
# On 2 shared vCPUs a CPU-bound workload's rate follows its CPU cost per op, which moves less with the
# machine's noise than the rate does: the scripts report both.

# server_ticks PID... : CPU ticks (utime + stime of all threads, in USER_HZ) of the given processes, summed.
server_ticks() {
  local pid t=0 stat f
  for pid in "$@"; do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    stat=${stat##*) }                   # the fields after "(comm) "; field 14 of stat is the 12th here
    read -r -a f <<<"$stat"
    t=$(( t + f[11] + f[12] ))
  done
  echo "$t"
}

# with_client_cpu FILE COMMAND... : runs the command (its stdout and exit status pass through) and writes the
# CPU seconds it and its children used (user + system) to FILE.
with_client_cpu() {
  local out=$1; shift
  python3 -c '
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
r = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write(f"{r.ru_utime + r.ru_stime:.3f}\n")
sys.exit(rc)' "$out" "$@"
}

# idle_ticks FILE PID... : what the servers spend with no client I/O (heartbeats, Ceph's manager, timers) over 5 s,
# written to FILE as "TICKS SECONDS": the reports count only the CPU a workload cost above that rate.
idle_ticks() {
  local out=$1 t0; shift
  t0=$(server_ticks "$@")
  sleep 5
  echo "$(( $(server_ticks "$@") - t0 )) 5" >"$out"
}
