#!/usr/bin/env bash
# Installs what the tests need (Debian packages, npm packages), builds, runs every test project and
# ends with one line: the totals over every project, "N passed, N failed[, N skipped]".
#   ./test.sh                 everything
#   ./test.sh Fabric.Rpc.Tests [more projects]   only those
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
# shellcheck source=.ci/packages.sh
source "$ROOT/.ci/packages.sh"

if [[ "${FABRIC_SKIP_PACKAGES:-0}" != "1" ]]; then
  fabric_install_packages "${FABRIC_TEST_PACKAGES[@]}" || { echo "test.sh: could not install packages"; exit 1; }
fi

# npm packages for the interop tests: a gRPC client nobody here wrote.
INTEROP="$ROOT/tests/Fabric.Rpc.Tests/interop"
if [[ -f "$INTEROP/package.json" && ! -d "$INTEROP/node_modules/@grpc/grpc-js" ]]; then
  (cd "$INTEROP" && npm install --no-audit --no-fund --loglevel=error) || { echo "test.sh: npm install failed"; exit 1; }
fi

echo "test.sh: building ..."
if ! dotnet build Fabric.sln -c Release -nologo -v q -clp:ErrorsOnly; then
  echo "test.sh: build failed"
  echo "0 passed, 1 failed"
  exit 1
fi
touch "$ROOT/artifacts/.build-stamp"

RESULTS="$ROOT/artifacts/test-results"
rm -rf "$RESULTS"; mkdir -p "$RESULTS"
# Integration test clusters leave their node and console logs here when they are disposed (read them after a failure).
export FABRIC_IT_LOG_DIR="${FABRIC_IT_LOG_DIR:-$ROOT/artifacts/it-logs}"
rm -rf "$FABRIC_IT_LOG_DIR"

if [[ $# -gt 0 ]]; then
  projects=()
  for name in "$@"; do projects+=("tests/$name/$name.csproj"); done
else
  mapfile -t projects < <(find tests -mindepth 2 -maxdepth 2 -name '*.csproj' | sort)
fi

status=0
for proj in "${projects[@]}"; do
  name="$(basename "$proj" .csproj)"
  echo "test.sh: $name"
  # Project by project, so that tests that start processes and bind ports never overlap.
  if ! dotnet test "$proj" -c Release --no-build -nologo -v q \
      --logger "trx;LogFileName=$name.trx" --logger "console;verbosity=normal" \
      --results-directory "$RESULTS" 2>&1 | grep -vE '^\s*(Passed|Skipped) ' ; then
    :
  fi
  [[ ${PIPESTATUS[0]} -eq 0 ]] || status=1
  if [[ ! -f "$RESULTS/$name.trx" ]]; then
    echo "test.sh: $name produced no results (crashed?)"
    status=1
    echo '<Counters total="1" executed="1" passed="0" failed="1" />' > "$RESULTS/$name.crashed.trx"
  fi
done

# Totals from the TRX files: <Counters total=.. passed=.. failed=.. notExecuted=.. />
sum() { cat "$RESULTS"/*.trx | grep -o "<Counters [^>]*" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9][0-9]*' | awk '{ s += $1 } END { print s + 0 }'; }
passed=$(sum passed); failed=$(sum failed); skipped=$(sum notExecuted)
passed=${passed:-0}; failed=${failed:-0}; skipped=${skipped:-0}
if [[ $status -ne 0 && $failed -eq 0 ]]; then failed=1; fi
if [[ $skipped -gt 0 ]]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[[ $failed -eq 0 ]]
