#!/usr/bin/env bash
# The test suite, on a fresh machine or this one: checks for what the suite needs, installs
# what is missing (Debian packages and one Python package; needs root or sudo for those, and
# says so otherwise), starts the local PostgreSQL 15 when it is down, builds the simulator, then
# runs cargo test on the workspace (the exporter and the simulator, sim/).
#   scripts/test.sh                    # the whole suite
#   scripts/test.sh tasks::            # arguments go to cargo test (here: a filter)
# DATABASE_URL names a role that may create databases (default: the local postgres user).
# Every step is idempotent: on a machine that has everything, it only runs the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}

say() { echo "scripts/test.sh: $*" >&2; }
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else say "cannot install ($*): run as root or install it by hand"; exit 2
    fi
}

# What each test tool is for, and the Debian package that brings it:
#   psql             the demo, bench and report scripts               postgresql-client
#   promtool         exposition and rule checks                       prometheus
#   prometheus       the Prometheus-backed test of the rules          prometheus
#   docker-compose   parses the compose demo (no engine needed)       docker-compose
#   rpmspec          parses the RPM spec                              rpm
#   systemd-analyze  verifies the systemd unit                        systemd
missing=()
for pair in psql:postgresql-client promtool:prometheus prometheus:prometheus docker-compose:docker-compose \
    rpmspec:rpm systemd-analyze:systemd; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
    say "installing Debian packages: $packages"
    as_root apt-get update -qq
    # shellcheck disable=SC2086
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages >/dev/null
fi
# The OpenMetrics parser of the Python client library checks our OpenMetrics output.
if ! python3 -c 'import prometheus_client' 2>/dev/null; then
    say "installing the Python package prometheus-client"
    python3 -m pip install -q --disable-pip-version-check prometheus-client \
        || python3 -m pip install -q --disable-pip-version-check --break-system-packages prometheus-client
fi

# PostgreSQL: the local cluster when DATABASE_URL points at this machine and nothing answers.
if ! pg_isready -q -d "$DATABASE_URL"; then
    if command -v pg_ctlcluster >/dev/null && [[ "$DATABASE_URL" == *@127.0.0.1* || "$DATABASE_URL" == *@localhost* ]]; then
        say "starting the local PostgreSQL 15"
        as_root pg_ctlcluster --skip-systemctl-redirect 15 main start
        for _ in $(seq 1 30); do pg_isready -q -d "$DATABASE_URL" && break; sleep 1; done
    fi
    pg_isready -q -d "$DATABASE_URL" || { say "no PostgreSQL answers at $DATABASE_URL; start one or set DATABASE_URL"; exit 2; }
fi

# The simulator is a package of its own (sim/), so `cargo test` does not build its binary, which
# tests/it/sim.rs and tests/it/ops.rs run (support::sim_binary finds it in target/debug/); build
# it first. --workspace also runs the simulator's own unit tests.
cargo build --locked -p koji-sim
exec cargo test --locked --workspace "$@"
