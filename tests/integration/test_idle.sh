#!/usr/bin/env bash
# The coordinator's waits do not spin (comm_*_idle, common/comm/comm.h): idle_wait's rank 0
# waits through three 300 ms phases of the others' work and must use well under a quarter of
# a core meanwhile; the idle collectives' results are checked too.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
for n in 2 3; do
  if timeout 120 mpirun -n "$n" "$BUILD/tests/integration/idle_wait" >"$TMP/idle-$n.log" 2>&1; then
    ok "$n ranks: $(grep 'rank 0 waited' "$TMP/idle-$n.log")"
  else
    fail "$n ranks:"; cat "$TMP/idle-$n.log"
  fi
done
finish
