#!/bin/sh
# bench/run.sh [tiny|small|medium|large] -- the benchmark, in one command.
#
# Uses (and creates with koji-sim if missing) the database koji_sim_<scale> on the server in
# BENCH_PG (default postgres://postgres@127.0.0.1:5432, a role that may create databases), builds
# the release binaries, puts query-exporter in a virtualenv under target/bench, then runs
# bench/bench.py, which prints the report and appends it to BENCHMARKS.md.
# BENCH_FRESH=1 drops and recreates the database first (live runs change it).
set -eu

scale=${1:-large}
case $scale in tiny|small|medium|large) ;; *) echo "usage: bench/run.sh [tiny|small|medium|large]" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."
pg=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
db=koji_sim_$scale
work=target/bench
mkdir -p "$work"

cargo build --release --bin koji-exporter --bin koji-sim

if [ ! -x "$work/venv/bin/query-exporter" ]; then
    python3 -m venv "$work/venv"
    "$work/venv/bin/pip" install --quiet query-exporter psycopg2-binary 'psycopg[binary]'
fi

if [ "${BENCH_FRESH:-0}" = 1 ]; then
    psql "$pg/postgres" -qc "drop database if exists $db with (force)"
fi
if [ -z "$(psql "$pg/postgres" -Atc "select 1 from pg_database where datname = '$db'")" ]; then
    psql "$pg/postgres" -qc "create database $db"
    target/release/koji-sim create --database-url "$pg/$db" --scale "$scale"
fi

exec "$work/venv/bin/python" bench/bench.py "$scale" "$pg/$db" target/release/koji-exporter \
    target/release/koji-sim "$work/venv/bin/query-exporter" "$work"
