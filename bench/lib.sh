# Shared by the benchmarks (sourced): `record` appends one figure to the suite's results file, when
# bench/all runs the benchmark (BENCH_RECORD names the file), as a tab-separated line:
#   benchmark  figure  value  unit  role
# role: "result" (a figure of the catalog), "baseline" (what it is compared with, measured in the same
# run) or "ratio". BENCH_LABEL (bench/all sets it for runs at another size) is added to the benchmark's name.
record() {
    [ -n "${BENCH_RECORD:-}" ] || return 0
    local name
    name=$(basename "$0")${BENCH_LABEL:+ ($BENCH_LABEL)}
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$1" "$2" "$3" "${4:-result}" >>"$BENCH_RECORD"
}
