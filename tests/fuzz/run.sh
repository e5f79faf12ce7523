#!/usr/bin/env bash
# tests/fuzz/run.sh — runs libFuzzer targets one after another for a given
# time each, from the committed corpus and dictionary, merges inputs that add
# coverage back into tests/fuzz/corpus/<name>/ and reports executions,
# coverage and findings per target.
#
# usage: tests/fuzz/run.sh [-b BUILD_DIR] [-t SECONDS] [-n] [TARGET...]
#   -b  build dir configured with -Dfuzz=true (default build-fuzz; set up with
#       CC=clang-14 meson setup build-fuzz -Dfuzz=true \
#         -Db_sanitize=address,undefined -Db_lundef=false)
#   -t  seconds per target (default 600)
#   -n  do not merge new inputs into the committed corpus
#   TARGET  names as in tests/fuzz/meson.build (default: every target built)
# Findings (crash-*, leak-*, timeout-*, oom-*) are kept in
# $FUZZ_OUT (default /tmp/sg-fuzz) and make the script exit 1. Extra libFuzzer
# flags go in $FUZZ_FLAGS, e.g. "-fork=1 -ignore_crashes=1" to keep going
# after a known crash and collect the distinct ones.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build-fuzz
secs=600
merge=1
while getopts "b:t:n" o; do
	case $o in
	b) build=$(cd "$OPTARG" && pwd) ;;
	t) secs=$OPTARG ;;
	n) merge=0 ;;
	*) sed -n '2,18p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
out=${FUZZ_OUT:-/tmp/sg-fuzz}
mkdir -p "$out"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	for f in "$build"/tests/fuzz/fuzz_*; do
		[ -x "$f" ] && targets+=("${f##*/fuzz_}")
	done
fi
[ ${#targets[@]} -gt 0 ] || { echo "run.sh: no fuzz targets in $build/tests/fuzz" >&2; exit 2; }

# A shared machine: stay below other work (nice) and below 2 GiB per target.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
printf '%-10s %8s %12s %9s %8s %6s %6s %s\n' target seconds execs exec/s cov corpus +new findings
for t in "${targets[@]}"; do
	bin=$build/tests/fuzz/fuzz_$t
	corpus=$here/corpus/$t
	[ -x "$bin" ] || { echo "run.sh: $bin missing (ninja -C $build)" >&2; status=1; continue; }
	mkdir -p "$corpus"
	work=$out/$t/work
	art=$out/$t/artifacts
	rm -rf "$work"
	mkdir -p "$work" "$art"
	dict=()
	[ -f "$here/$t.dict" ] && dict=(-dict="$here/$t.dict")
	before=$(find "$corpus" -type f | wc -l)
	log=$out/$t/fuzz.log
	# new inputs go to $work (first dir); the committed corpus is read only
	nice -n 10 "$bin" -max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$art/" "${dict[@]}" ${FUZZ_FLAGS:-} \
		"$work" "$corpus" >"$log" 2>&1 || true
	if [ "$merge" = 1 ]; then
		# keep only inputs that reach new edges (hit-count buckets off:
		# with them, thousands of near-duplicates would qualify)
		nice -n 10 "$bin" -merge=1 -use_counters=0 -timeout=25 -rss_limit_mb=2048 \
			"$corpus" "$work" \
			>"$out/$t/merge.log" 2>&1 || true
	fi
	after=$(find "$corpus" -type f | wc -l)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	# fork mode prints no final stats: its last status line counts executions
	[ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9][0-9]*\):* .*/\1/p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
	findings=$(find "$art" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
		-o -name 'oom-*' \) | wc -l)
	[ "$findings" -eq 0 ] || status=1
	printf '%-10s %8s %12s %9s %8s %6s %6s %s\n' "$t" "$secs" "${execs:-?}" "${rate:-?}" \
		"${cov:-?}" "$after" "+$((after - before))" "$findings$([ "$findings" -eq 0 ] || echo " ($art)")"
done
exit $status
