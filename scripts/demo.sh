#!/usr/bin/env bash
# Runs the exporter against a Koji database: the one given as the first argument, or else a
# local demo database `koji_demo` that this script (re)creates with the simulator at the
# `small` scale (about 10^5 tasks, a few seconds) and keeps alive with `koji-sim live`.
#   scripts/demo.sh                                   # a simulated Koji on the local PostgreSQL
#   scripts/demo.sh postgres://koji_ro@db/koji        # a real Koji database (read-only)
# PGHOST/PGPORT/PGUSER select the local server for the demo (default 127.0.0.1:5432, postgres).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked -p koji-exporter -p koji-sim
url=${1:-}
if [ -z "$url" ]; then
    export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
    url="postgres://$PGUSER@$PGHOST:$PGPORT/koji_demo"
    echo "creating the simulated Koji database koji_demo on $PGHOST:$PGPORT ..." >&2
    psql -q -X -d postgres -c 'drop database if exists koji_demo with (force)' -c 'create database koji_demo'
    target/release/koji-sim create --database.url "$url" --scale small
    # New tasks, builder check-ins, taggings and repo regenerations while the demo runs, as a
    # healthy site (`koji-sim live --scenario overload|host-down|stuck-queue` plays a sick one).
    target/release/koji-sim live --database.url "$url" >/dev/null 2>&1 &
    live=$!
    trap 'kill $live 2>/dev/null' EXIT
fi
echo "serving metrics on http://127.0.0.1:10045/metrics (Ctrl-C stops)" >&2
target/release/koji-exporter serve --web.listen-address 127.0.0.1:10045 --database.url "$url"
