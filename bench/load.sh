#!/usr/bin/env bash
# bench/load.sh [SECONDS] -- a steady scrape load against a slow database, in one command.
#
# Loads the demo data set into the database koji_load (on the server in LOAD_PG, default
# postgres://postgres@127.0.0.1:5432), starts the release exporter on loopback with its default
# pool of 2 connections, makes the database slow (a loop that holds an exclusive lock on
# host_channels for 1.5 s out of every 2 s, so the hosts family waits on every scrape), and runs
# wrk with 8 connections for SECONDS (default 60) while polling pg_stat_activity for the
# exporter's sessions. Prints wrk's report and the most sessions seen; needs wrk (Debian package).
#
# Then, against a second exporter with TLS and basic authentication (certificates made here with
# openssl, the database no longer slowed), bench/abuse.py runs 50 clients sending wrong passwords
# plus one real scraper and a /-/healthy probe for ABUSE_SECONDS (default 30), and 100 clients
# that send GET /metrics and never read while the exporter's VmRSS is sampled. Everything is on
# 127.0.0.1 and bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
abuse_seconds=${ABUSE_SECONDS:-30}
pg=${LOAD_PG:-postgres://postgres@127.0.0.1:5432}
port=${LOAD_PORT:-19945}
command -v wrk >/dev/null || { echo "bench/load.sh needs wrk (apt-get install wrk)" >&2; exit 2; }
command -v openssl >/dev/null || { echo "bench/load.sh needs openssl" >&2; exit 2; }

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
secured=
trap 'kill $exporter $locker $poller $secured 2>/dev/null; wait 2>/dev/null; psql "$pg/postgres" -qX -c "drop database if exists koji_load with (force)"' EXIT
sleep 2

wrk -t2 -c8 -d"${seconds}s" --timeout 12s --latency -H 'Accept: application/openmetrics-text; version=1.0.0' \
    "http://127.0.0.1:$port/metrics" | tee "$work/wrk.txt"
echo "most exporter sessions seen in pg_stat_activity: $(cat "$work/most" 2>/dev/null || echo 0) (pool size 2)"
failed=$(curl -s "http://127.0.0.1:$port/metrics" | grep -c 'collector_success{collector="[a-z]*"} 0' || true)
echo "families failing in a scrape after the run: $failed"

kill $exporter $locker $poller 2>/dev/null || true
wait $exporter $locker $poller 2>/dev/null || true

# TLS and basic authentication: a CA, a certificate for localhost, and the bcrypt hash (cost 10,
# as `htpasswd -nBC 10 prometheus` makes) of the password bench/abuse.py uses, "bench-password".
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench-ca \
    -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
    -keyout "$work/tls.key" -out "$work/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$work/san.ext"
openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -days 2 \
    -extfile "$work/san.ext" -out "$work/tls.crt" 2>/dev/null
cat >"$work/web.yml" <<'EOF'
tls_server_config:
  cert_file: tls.crt
  key_file: tls.key
basic_auth_users:
  prometheus: '$2b$10$abcdefghijklmnopqrstuu5rhE8xjcfdvrsFKo7VUotU4ZZ7fEC/O'
EOF
secured_port=$((port + 1))
target/release/koji-exporter serve --web.listen-address "127.0.0.1:$secured_port" --database.url "$pg/koji_load" \
    --web.config.file "$work/web.yml" --log.level warn 2>"$work/secured.log" &
secured=$!
sleep 2
echo "abuse: 50 wrong-password clients + 1 scraper for ${abuse_seconds}s, then 100 non-reading clients"
python3 bench/abuse.py "$secured_port" "$secured" "$work/ca.pem" "$abuse_seconds" | tee "$work/abuse.json"
echo "secured exporter's log lines: $(wc -l <"$work/secured.log")"
