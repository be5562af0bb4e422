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

# project_until_caught_up LOGDIR: runs `projections run` until the albums projection has applied every
# event on the primary and every replica holds that checkpoint; prints the projector's pid (the caller
# stops it). Needs sql() and the cluster's environment.
project_until_caught_up() {
    local logs=$1 projector checkpoint="" caught replica got
    .build/release/projections run >/dev/null 2>"$logs/projections.log" &
    projector=$!
    caught="SELECT c.txid::text || '.' || c.position FROM read_model.projection_checkpoints c
        WHERE c.projection = 'albums' AND NOT EXISTS (SELECT FROM events e WHERE (e.txid, e.position) > (c.txid, c.position))
          AND obj_description('read_model.album_views'::regclass, 'pg_class') = 'album_views shape 2'"
    for _ in $(seq 1 1200); do
        checkpoint=$(sql "$CATALOG_PROJECTOR_PRIMARY" "$caught" 2>/dev/null || true)
        [ -z "$checkpoint" ] || break
        kill -0 "$projector" 2>/dev/null || { echo "projections run stopped:" >&2; cat "$logs/projections.log" >&2; return 1; }
        sleep 0.5
    done
    [ -n "$checkpoint" ] || { echo "the albums projection did not catch up" >&2; return 1; }
    while read -r replica; do
        for _ in $(seq 1 600); do
            got=$(sql "$replica" "SELECT txid::text || '.' || position FROM read_model.projection_checkpoints WHERE projection = 'albums'" 2>/dev/null || true)
            [ -n "$got" ] && awk -v a="$got" -v b="$checkpoint" 'BEGIN { split(a, x, "."); split(b, y, ".");
                exit !(x[1] + 0 > y[1] + 0 || (x[1] + 0 == y[1] + 0 && x[2] + 0 >= y[2] + 0)) }' && continue 2
            sleep 0.1
        done
        echo "a replica did not reach checkpoint $checkpoint" >&2
        return 1
    done < <(echo "$CATALOG_REPLICAS" | tr ',' '\n' | cut -d= -f2-)
    echo "$projector"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
