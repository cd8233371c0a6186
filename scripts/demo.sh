#!/usr/bin/env bash
# Runs the exporter against a Koji database: the one given as the first argument, or else a
# local demo database `koji_demo` that this script (re)creates from migrations-fixtures/.
#   scripts/demo.sh                                   # demo data on the local PostgreSQL
#   scripts/demo.sh postgres://koji_ro@db/koji        # a real Koji database (read-only)
# PGHOST/PGPORT/PGUSER select the local server for the demo (default 127.0.0.1:5432, postgres).
set -euo pipefail
cd "$(dirname "$0")/.."

url=${1:-}
if [ -z "$url" ]; then
    export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
    echo "loading the demo data set into database koji_demo on $PGHOST:$PGPORT ..." >&2
    psql -q -X -d postgres -c 'drop database if exists koji_demo with (force)' -c 'create database koji_demo'
    for file in migrations-fixtures/schema/koji-1.3{2,3,4,5}.sql migrations-fixtures/datasets/demo.sql; do
        psql -q -X -v ON_ERROR_STOP=1 -1 -d koji_demo -f "$file" >/dev/null
    done
    url="postgres://$PGUSER@$PGHOST:$PGPORT/koji_demo"
fi
echo "serving metrics on http://127.0.0.1:10045/metrics (Ctrl-C stops)" >&2
exec cargo run --release --locked -- serve --web.listen-address 127.0.0.1:10045 --database.url "$url"
