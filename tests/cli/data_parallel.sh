#!/usr/bin/env bash
# Data-parallel training (docs/distributed.md) against one process, on real Fashion-MNIST subsets:
#  1. equivalence: `mpirun -np 2` (one thread per rank, --sync-bn) trains 2 epochs of SmallCNN
#     (dense and MoE, standard and AdvMoE) with the same global batch as one process, and the
#     final parameters agree within float summation-order tolerance (below, and why);
#     one rank under mpirun gives the one process's parameters bit for bit;
#  2. per-rank BN (no --sync-bn) is a different algorithm: its distance to the one-process run
#     must be far above that tolerance (the comparison can fail);
#  3. a configuration mismatch between ranks stops at start-up naming the rank and the field;
#  4. a rank killed mid-run stops the whole job, mpirun names the rank, and the last checkpoint
#     written stays loadable; resuming it with a different number of ranks works.
# Skipped (77) without mpirun. usage: data_parallel.sh path/to/advmoe
set -uo pipefail
advmoe=$1
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
command -v mpirun >/dev/null || { echo "mpirun not found (scripts/install-deps.sh installs it)"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
failures=0
fail() {
  echo "FAILED: $*" >&2
  failures=$((failures + 1))
}
# CI and containers run as root; Open MPI refuses that unless told.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_NUM_THREADS=1
# Sanitizer builds: no leak report here. Open MPI, PMIx and hwloc leave allocations made inside
# plugins they unload at MPI_Finalize, which LeakSanitizer can neither attribute nor suppress by
# library; AddressSanitizer's other checks and UBSan still run on the data-parallel path, and
# every single-process test checks our own code for leaks.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
mpi=(mpirun -np 2 --oversubscribe)
run() { "$@" >"$dir/last.log" 2>&1 || { fail "$* (exit $?)"; tail -8 "$dir/last.log" >&2; }; }
compare() { $py "$here/compare_checkpoints.py" "$1/last.h5" "$2/last.h5"; }
# field of the JSON line $1
field() { $py -c "import json,sys; print(json.loads(sys.argv[1])['$2'])" "$1"; }
below() { $py -c "import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)" "$1" "$2"; }

# Tolerances. Each step's gradient is summed in another order (two half batches and one
# all-reduce instead of one batch): one step leaves a relative difference of ~1e-7 in the
# parameters, the float32 rounding of those sums. Standard training at a small rate keeps it
# near that size over 16 steps (measured 3e-7 per tensor): 1e-5 per tensor. Adversarial steps
# amplify it (a near-zero input gradient can change sign, moving a pixel by 2 * alpha), so AdvMoE
# gets no fixed bound: P = 2 must stay within 5x of what a pure change of summation order does to
# one process (1 vs 2 OpenMP threads), measured here on the same machine.
common=(--batch-size 64 --test-limit 64 --lr 0.002 --eval-pgd-steps 0
        --final-pgd-steps 0 --epochs 2)
standard=(--train-limit 512 --method standard)
bilevel=(--train-limit 128 --variant moe --ratio 0.5 --method advmoe --epsilon 0.1)

for variant in dense moe; do
  extra=(--variant "$variant")
  [ "$variant" = moe ] && extra+=(--ratio 0.5)
  run "$advmoe" train "${common[@]}" --threads 1 "${standard[@]}" "${extra[@]}" --sync-bn \
    --out "$dir/one-$variant"
  run "${mpi[@]}" "$advmoe" train "${common[@]}" --threads 1 "${standard[@]}" "${extra[@]}" \
    --sync-bn --out "$dir/two-$variant"
  r=$(compare "$dir/one-$variant" "$dir/two-$variant")
  echo "standard $variant, P=2 vs 1: $r"
  below "$(field "$r" params)" 1e-5 || fail "standard $variant: P=2 differs from one process: $r"
  below "$(field "$r" momentum)" 1e-3 || fail "standard $variant: momenta differ: $r"
done

# One rank under mpirun runs the whole data-parallel path (all-reduce nodes, collectives) and
# must give the one process's result bit for bit (the mean of one rank is a copy).
run mpirun -np 1 "$advmoe" train "${common[@]}" --threads 1 "${standard[@]}" --sync-bn \
  --out "$dir/one-rank"
r=$(compare "$dir/one-dense" "$dir/one-rank")
echo "standard dense, mpirun -np 1 vs one process: $r"
[ "$(field "$r" bitwise)" = "$(field "$r" tensors)" ] || fail "mpirun -np 1 is not bit-identical: $r"

# Per-rank statistics (the default) are not the one-process algorithm: far outside the bound.
run "${mpi[@]}" "$advmoe" train "${common[@]}" --threads 1 "${standard[@]}" \
  --out "$dir/two-dense-local-bn"
r=$(compare "$dir/one-dense" "$dir/two-dense-local-bn")
echo "standard dense, per-rank BN vs one process: $r"
below 1e-3 "$(field "$r" params)" || fail "per-rank BN should differ from --sync-bn's result: $r"

run "$advmoe" train "${common[@]}" --threads 1 "${bilevel[@]}" --sync-bn --out "$dir/one-advmoe"
OMP_NUM_THREADS=2 run "$advmoe" train "${common[@]}" --threads 2 "${bilevel[@]}" --sync-bn \
  --out "$dir/one-advmoe-2threads"
run "${mpi[@]}" "$advmoe" train "${common[@]}" --threads 1 "${bilevel[@]}" --sync-bn \
  --out "$dir/two-advmoe"
floor=$(compare "$dir/one-advmoe" "$dir/one-advmoe-2threads")
r=$(compare "$dir/one-advmoe" "$dir/two-advmoe")
echo "advmoe: 2 threads vs 1 (summation order alone): $floor; P=2 vs 1: $r"
bound=$($py -c "import sys; print(5 * float(sys.argv[1]) + 1e-7)" "$(field "$floor" params_global)")
below "$(field "$r" params_global)" "$bound" || fail "advmoe: P=2 differs more than 5x the summation-order floor: $r vs $floor"
grep -q "data-parallel: 2 ranks" "$dir/last.log" || fail "the MPI run did not report its 2 ranks"

# 3. A configuration mismatch: rank 1 gets another momentum.
mpirun -np 1 "$advmoe" train "${common[@]}" --threads 1 "${standard[@]}" --out "$dir/mismatch" : \
  -np 1 "$advmoe" train "${common[@]}" --threads 1 "${standard[@]}" --momentum 0.8 \
  --out "$dir/mismatch" \
  >"$dir/mismatch.log" 2>&1
code=$?
[ $code -ne 0 ] || fail "a configuration mismatch between ranks was not refused"
grep -q "rank 1 of 2 disagrees with rank 0 at start-up.*options" "$dir/mismatch.log" ||
  { fail "the mismatch error does not name rank 1 and the options"; tail -5 "$dir/mismatch.log" >&2; }

# Usage errors under mpirun: a global batch that does not split, a command that is not parallel.
"${mpi[@]}" "$advmoe" train --batch-size 63 --train-limit 256 --out "$dir/odd" >"$dir/odd.log" 2>&1 &&
  fail "--batch-size 63 on 2 ranks was accepted"
grep -q "\[rank 1 of 2\] advmoe train: --batch-size 63 (the global batch) must split evenly over 2" \
  "$dir/odd.log" || { fail "no rank-named message for an odd batch"; tail -3 "$dir/odd.log" >&2; }
"${mpi[@]}" "$advmoe" eval --checkpoint "$dir/one-dense/last.h5" >"$dir/eval.log" 2>&1 &&
  fail "eval ran as 2 ranks"
grep -q "runs in one process" "$dir/eval.log" || fail "eval under mpirun: no clear refusal"

# 4. Rank 1 dies after the first epoch's checkpoint; then the run resumes on one process.
"${mpi[@]}" "$advmoe" train --threads 1 --batch-size 64 --train-limit 4096 --test-limit 64 \
  --epochs 6 --eval-pgd-steps 0 --final-pgd-steps 0 --out "$dir/killed" >"$dir/killed.log" 2>&1 &
job=$!
for _ in $(seq 1 600); do
  [ -f "$dir/killed/last.h5" ] && break
  sleep 0.1
done
victim=""
for environ in /proc/[0-9]*/environ; do
  pid=${environ#/proc/}
  pid=${pid%/environ}
  if { tr '\0' '\n' <"$environ" | grep -qx "OMPI_COMM_WORLD_RANK=1" &&
       tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$dir/killed"; } 2>/dev/null; then
    victim=$pid
  fi
done
if [ -z "$victim" ]; then
  fail "rank 1 of the run to kill was not found"
  kill "$job" 2>/dev/null
else
  kill -9 "$victim"
fi
wait "$job"
code=$?
[ $code -ne 0 ] || fail "the job went on after rank 1 died"
grep -qi "rank 1" "$dir/killed.log" || { fail "nothing names the dead rank"; tail -5 "$dir/killed.log" >&2; }
run "$advmoe" inspect "$dir/killed/last.h5"
run "$advmoe" train --threads 1 --batch-size 64 --train-limit 4096 --test-limit 64 --epochs 2 \
  --eval-pgd-steps 0 --final-pgd-steps 0 --resume "$dir/killed"
grep -q "resumed" "$dir/last.log" || fail "the killed run did not resume on one process"

[ $failures -eq 0 ] && echo "data_parallel: all checks passed"
exit $((failures > 0))
