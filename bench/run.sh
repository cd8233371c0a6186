#!/bin/sh
# bench/run.sh [SCALE ...] -- the benchmark, in one command. SCALE is tiny, small, medium or large
# (default: large); with several (`bench/run.sh medium large`) every scale is measured in the same
# run and the report shows them side by side.
#
# Uses (and creates with koji-sim if missing) the database koji_sim_<scale> on the server in
# BENCH_PG (default postgres://postgres@127.0.0.1:5432, a role that may create databases), builds
# the release binaries, puts query-exporter in a virtualenv under the cargo target directory
# (CARGO_TARGET_DIR, default target), then runs bench/bench.py, which prints the report and
# appends it to BENCHMARKS.md.
# BENCH_FRESH=1 drops and recreates the databases first (live runs change them).
set -eu

[ $# -gt 0 ] || set -- large
for scale in "$@"; do
    case $scale in tiny|small|medium|large) ;; *) echo "usage: bench/run.sh [tiny|small|medium|large ...]" >&2; exit 2 ;; esac
done
cd "$(dirname "$0")/.."
pg=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
target=${CARGO_TARGET_DIR:-target}
work=$target/bench
mkdir -p "$work"

cargo build --release -p koji-exporter -p koji-sim

if [ ! -x "$work/venv/bin/query-exporter" ]; then
    python3 -m venv "$work/venv"
    "$work/venv/bin/pip" install --quiet query-exporter psycopg2-binary 'psycopg[binary]'
fi

runs=
for scale in "$@"; do
    db=koji_sim_$scale
    if [ "${BENCH_FRESH:-0}" = 1 ]; then
        psql "$pg/postgres" -qc "drop database if exists $db with (force)"
    fi
    if [ -z "$(psql "$pg/postgres" -Atc "select 1 from pg_database where datname = '$db'")" ]; then
        psql "$pg/postgres" -qc "create database $db"
        "$target/release/koji-sim" create --database.url "$pg/$db" --scale "$scale"
    fi
    runs="$runs $scale=$pg/$db"
done

# shellcheck disable=SC2086 # $runs is a list of words without blanks
exec "$work/venv/bin/python" bench/bench.py "$target/release/koji-exporter" "$target/release/koji-sim" \
    "$work/venv/bin/query-exporter" "$work" $runs
