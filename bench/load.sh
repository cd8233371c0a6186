#!/usr/bin/env bash
# bench/load.sh [SECONDS] -- a steady scrape load against a slow database, in one command.
#
# Loads the demo data set into the database koji_load (on the server in LOAD_PG, default
# postgres://postgres@127.0.0.1:5432), starts the release exporter on loopback with its default
# pool of 2 connections, makes the database slow (a loop that holds an exclusive lock on
# host_channels for 1.5 s out of every 2 s, so the hosts family waits on every scrape), and runs
# wrk with 8 connections for SECONDS (default 60) while polling pg_stat_activity for the
# exporter's sessions. Prints wrk's report and the most sessions seen; needs wrk (Debian package).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
pg=${LOAD_PG:-postgres://postgres@127.0.0.1:5432}
port=${LOAD_PORT:-19945}
command -v wrk >/dev/null || { echo "bench/load.sh needs wrk (apt-get install wrk)" >&2; exit 2; }

cargo build --release --locked --bin koji-exporter
psql "$pg/postgres" -qX -c 'drop database if exists koji_load with (force)' -c 'create database koji_load'
for file in migrations-fixtures/schema/koji-1.3{2,3,4,5}.sql migrations-fixtures/datasets/demo.sql; do
    psql "$pg/koji_load" -qX -v ON_ERROR_STOP=1 -1 -f "$file" >/dev/null
done

work=$(mktemp -d)
target/release/koji-exporter serve --web.listen-address "127.0.0.1:$port" --database.url "$pg/koji_load" \
    --log.level warn 2>"$work/exporter.log" &
exporter=$!
( while true; do
      psql "$pg/koji_load" -qX -c 'begin; lock table host_channels in access exclusive mode; select pg_sleep(1.5); commit;' >/dev/null 2>&1
      sleep 0.5
  done ) &
locker=$!
( most=0
  while true; do
      n=$(psql "$pg/postgres" -AtX -c "select count(*) from pg_stat_activity where datname = 'koji_load' and application_name = 'koji-exporter'")
      [ "$n" -gt "$most" ] && most=$n && echo "$most" >"$work/most"
      sleep 0.5
  done ) &
poller=$!
trap 'kill $exporter $locker $poller 2>/dev/null; wait 2>/dev/null; psql "$pg/postgres" -qX -c "drop database if exists koji_load with (force)"' EXIT
sleep 2

wrk -t2 -c8 -d"${seconds}s" --timeout 12s --latency -H 'Accept: application/openmetrics-text; version=1.0.0' \
    "http://127.0.0.1:$port/metrics" | tee "$work/wrk.txt"
echo "most exporter sessions seen in pg_stat_activity: $(cat "$work/most" 2>/dev/null || echo 0) (pool size 2)"
failed=$(curl -s "http://127.0.0.1:$port/metrics" | grep -c 'collector_success{collector="[a-z]*"} 0' || true)
echo "families failing in a scrape after the run: $failed"
