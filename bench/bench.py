"""Side-by-side benchmark of koji-exporter, plain GROUP BY queries and query-exporter.

Run through bench/run.sh, which prepares the database, the binaries and a virtualenv with
query-exporter and psycopg2. Measures, on one database in one run:

* per family, the statements koji-exporter sends during a scrape (sql/<family>.sql) and the naive
  queries standing in for it (bench/naive-queries.sql): EXPLAIN (ANALYZE, BUFFERS) time, shared
  buffers touched and rows read by scans;
* per family, koji-exporter's own collector time on the first (cold) scrape and in steady state
  while `koji-sim live` changes the database;
* end to end, /metrics latency of both exporters alone and under concurrent scrapes, and each
  exporter process's CPU time and peak memory.

It prints a markdown report and appends it to BENCHMARKS.md.
"""

import concurrent.futures
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

import psycopg2

# A family is one line: its name (sql/<name>.sql, naive queries "<name>.*") and the parameters of
# its parameterised statements. Statements not listed under "skip" are part of every scrape.
FAMILIES = [
    # host_session_activity and channels_before_1_26 are fallbacks for schemas older than the
    # 1.35 one koji-sim creates; the exporter does not send them there.
    {
        "name": "hosts",
        "params": {"host_session_activity": ["array(select id from host)"]},
        "skip": ["host_session_activity", "channels_before_1_26"],
    },
    {
        "name": "tasks",
        "params": {
            "nonterminal": ["array['build','newRepo','tagBuild','image','waitrepo']"],
            "created_after": ["array['build','newRepo']", "(select max(id) - 200 from task)", "10000"],
            "by_id": ["array['build','newRepo']", "array(select id from task where state in (0, 1, 4) limit 500)"],
            "tag_names": ["array(select id from tag order by id limit 50)"],
        },
        # read once at start-up (and on reconciliation), never inside a scrape
        "skip": ["history"],
    },
]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def statements(path):
    """The `-- name:` statements of a SQL file, in order."""
    text = open(path).read()
    found = []
    for part in re.split(r"^-- name: *", text, flags=re.M)[1:]:
        name, _, body = part.partition("\n")
        body = "\n".join(line for line in body.splitlines() if not line.startswith("--")).strip()
        found.append((name.strip(), body))
    return found


def scanned_rows(plan):
    """Rows read by the scans of a plan: rows returned plus rows a filter removed, per loop."""
    total = 0
    if "Scan" in plan.get("Node Type", ""):
        loops = plan.get("Actual Loops", 1)
        total += (plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)) * loops
    for child in plan.get("Plans", []):
        total += scanned_rows(child)
    return total


def explain(cur, sql, params):
    """Runs sql through EXPLAIN ANALYZE twice and keeps the second, warm run; returns (ms,
    buffers, rows read). Parameters are SQL expressions, evaluated first (EXECUTE takes values)."""
    if params:
        cur.execute("select " + ", ".join(params))
        values = list(cur.fetchone())
        cur.execute("prepare bench_stmt as " + sql)
        run = "explain (analyze, buffers, format json) execute bench_stmt(" + ", ".join(["%s"] * len(values)) + ")"
    else:
        values, run = [], "explain (analyze, buffers, format json) " + sql
    for _ in range(2):
        cur.execute(run, values)
        result = cur.fetchone()[0][0]
    if params:
        cur.execute("deallocate bench_stmt")
    plan = result["Plan"]
    buffers = plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0)
    return result["Execution Time"], buffers, scanned_rows(plan)


def sql_costs(dsn):
    """Per family: summed (ms, buffers, rows) of koji-exporter's scrape statements and naive ones."""
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    cur = conn.cursor()
    naive = statements(os.path.join(ROOT, "bench", "naive-queries.sql"))
    costs = {}
    for family in FAMILIES:
        name = family["name"]
        ours, detail = [0.0, 0, 0], []
        for stmt, sql in statements(os.path.join(ROOT, "sql", name + ".sql")):
            if stmt in family["skip"]:
                continue
            try:
                ms, buffers, rows = explain(cur, sql, family["params"].get(stmt))
            except psycopg2.Error as error:
                # statements for other schema levels (e.g. channels_before_1_26) do not apply
                detail.append((stmt, None, str(error).splitlines()[0]))
                cur.execute("deallocate all")
                continue
            ours = [ours[0] + ms, ours[1] + buffers, ours[2] + rows]
            detail.append((stmt, (ms, buffers, rows), ""))
        theirs = [0.0, 0, 0]
        for stmt, sql in naive:
            if stmt.split(".")[0] == name:
                ms, buffers, rows = explain(cur, sql, None)
                theirs = [theirs[0] + ms, theirs[1] + buffers, theirs[2] + rows]
                detail.append(("naive " + stmt, (ms, buffers, rows), ""))
        costs[name] = {"ours": ours, "naive": theirs, "detail": detail}
    conn.close()
    return costs


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port, timeout=300):
    started = time.monotonic()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as response:
        body = response.read().decode()
    return time.monotonic() - started, body


def family_seconds(body):
    """koji-exporter's per-family collection time in one exposition."""
    found = {}
    for line in body.splitlines():
        m = re.match(r'koji_exporter_collector_duration_seconds\{collector="([^"]+)"\} (\S+)', line)
        if m:
            found[m.group(1)] = float(m.group(2))
    return found


def wait_for(port, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing listens on port {port}")


def start(cmd, env=None, log=None):
    """Starts cmd under /usr/bin/time -v so its CPU time and peak memory are known at exit."""
    time_log = log + ".time"
    full = ["/usr/bin/time", "-v", "-o", time_log] + cmd
    proc = subprocess.Popen(full, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    proc.time_log = time_log
    return proc


def stop(proc):
    """Stops the measured program (not /usr/bin/time) and returns (cpu seconds, peak RSS MiB)."""
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    for child in children:
        os.kill(int(child), 15)
    proc.wait(timeout=60)
    text = open(proc.time_log).read()
    user = float(re.search(r"User time \(seconds\): (\S+)", text).group(1))
    system = float(re.search(r"System time \(seconds\): (\S+)", text).group(1))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    return user + system, rss / 1024


def latencies(port, clients, per_client):
    """Scrape latencies with `clients` concurrent scrapers, `per_client` scrapes each."""
    def worker(_):
        return [scrape(port)[0] for _ in range(per_client)]

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        return [t for batch in pool.map(worker, range(clients)) for t in batch]


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main():
    scale, dsn, exporter, sim, qe, workdir = sys.argv[1:7]
    steady_scrapes = int(os.environ.get("BENCH_STEADY_SCRAPES", "10"))
    clients = int(os.environ.get("BENCH_CLIENTS", "4"))
    per_client = int(os.environ.get("BENCH_PER_CLIENT", "3"))
    live_rate = os.environ.get("BENCH_LIVE_RATE", "5")

    print("statement costs (EXPLAIN ANALYZE) ...", file=sys.stderr)
    costs = sql_costs(dsn)

    ours_port, qe_port = free_port(), free_port()
    ours = start([exporter, "serve", "--web.listen-address", f"127.0.0.1:{ours_port}", "--database.url", dsn],
                 log=os.path.join(workdir, "koji-exporter.log"))
    wait_for(ours_port)
    print("cold scrape of koji-exporter ...", file=sys.stderr)
    cold_seconds, body = scrape(ours_port)
    cold_family = family_seconds(body)
    # the task family builds its history once after start-up; steady state begins when it is ready
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline and "koji_exporter_task_history_ready 1" not in body:
        time.sleep(5)
        body = scrape(ours_port)[1]

    env = dict(os.environ, KOJI_DSN=re.sub(r"^postgres://", "postgresql://", dsn))
    qe_proc = start([qe, "-H", "127.0.0.1", "-p", str(qe_port), "--config", os.path.join(ROOT, "bench", "query-exporter.yaml")],
                    env=env, log=os.path.join(workdir, "query-exporter.log"))
    wait_for(qe_port)
    print("cold scrape of query-exporter ...", file=sys.stderr)
    qe_cold = scrape(qe_port)[0]

    live = subprocess.Popen([sim, "live", "--database-url", dsn, "--rate", live_rate],
                            stdout=open(os.path.join(workdir, "live.log"), "w"), stderr=subprocess.STDOUT)
    try:
        time.sleep(5)
        print("steady state under koji-sim live ...", file=sys.stderr)
        ours_steady, qe_steady, steady_family = [], [], {}
        for _ in range(steady_scrapes):
            seconds, body = scrape(ours_port)
            ours_steady.append(seconds)
            for fam, value in family_seconds(body).items():
                steady_family.setdefault(fam, []).append(value)
            qe_steady.append(scrape(qe_port)[0])
        print(f"concurrent scrapes ({clients} clients x {per_client}) ...", file=sys.stderr)
        ours_conc = latencies(ours_port, clients, per_client)
        qe_conc = latencies(qe_port, clients, per_client)
    finally:
        live.terminate()
        live.wait(timeout=60)
    ours_cpu, ours_rss = stop(ours)
    qe_cpu, qe_rss = stop(qe_proc)

    report = render(scale, costs, cold_seconds, cold_family, steady_family, ours_steady, qe_cold, qe_steady,
                    ours_conc, qe_conc, (ours_cpu, ours_rss), (qe_cpu, qe_rss), clients, per_client)
    print(report)
    with open(os.path.join(ROOT, "BENCHMARKS.md"), "a") as out:
        out.write("\n" + report)


def ratio(a, b):
    if a <= 0:
        return "n/a"
    return f"{b / a:.0f}x" if b / a >= 10 else f"{b / a:.1f}x" if b / a >= 1 else f"{b / a:.2f}x"


def render(scale, costs, cold, cold_family, steady_family, ours_steady, qe_cold, qe_steady, ours_conc, qe_conc,
           ours_proc, qe_proc, clients, per_client):
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    lines = [
        f"## Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, scale `{scale}`",
        "",
        f"Command: `bench/run.sh {scale}` at commit `{commit}`. Machine: {os.cpu_count()} CPUs, "
        f"{mem:.0f} GiB memory, {platform.system()} {platform.machine()}, {pg}, server on loopback.",
        "",
        "### Database cost per scrape, by family (EXPLAIN ANALYZE of each statement, second of two runs)",
        "",
        "| family | koji-exporter ms | naive GROUP BY ms | naive / koji-exporter | koji-exporter buffers | naive buffers | ratio "
        "| koji-exporter rows read | naive rows read | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, c in costs.items():
        o, n = c["ours"], c["naive"]
        lines.append(f"| {name} | {o[0]:.1f} | {n[0]:.1f} | {ratio(o[0], n[0])} | {o[1]} | {n[1]} | {ratio(o[1], n[1])} "
                     f"| {o[2]} | {n[2]} | {ratio(o[2], n[2])} |")
    lines += ["", "Per statement (ms, buffers, rows read):", ""]
    for name, c in costs.items():
        for stmt, value, note in c["detail"]:
            shown = f"{value[0]:.1f} ms, {value[1]} buffers, {value[2]} rows" if value else f"not run: {note}"
            lines.append(f"- {name}: `{stmt}`: {shown}")
    lines += ["", "### koji-exporter collector time per family (its own `koji_exporter_collector_duration_seconds`)", "",
              "| family | first scrape after start (s) | steady state under `koji-sim live`, median (s) | max (s) |",
              "|---|---:|---:|---:|"]
    for fam in sorted(set(cold_family) | set(steady_family)):
        values = steady_family.get(fam, [0.0])
        lines.append(f"| {fam} | {cold_family.get(fam, float('nan')):.4f} | {statistics.median(values):.4f} "
                     f"| {max(values):.4f} |")
    lines += ["", "### End to end", "",
              "| measure | koji-exporter | query-exporter (naive queries) | query-exporter / koji-exporter |", "|---|---:|---:|---:|",
              f"| first /metrics after start (s) | {cold:.3f} | {qe_cold:.3f} | {ratio(cold, qe_cold)} |",
              f"| steady /metrics, median (s) | {statistics.median(ours_steady):.3f} | {statistics.median(qe_steady):.3f} "
              f"| {ratio(statistics.median(ours_steady), statistics.median(qe_steady))} |",
              f"| {clients} concurrent scrapers, p50 (s) | {pct(ours_conc, 0.5):.3f} | {pct(qe_conc, 0.5):.3f} "
              f"| {ratio(pct(ours_conc, 0.5), pct(qe_conc, 0.5))} |",
              f"| {clients} concurrent scrapers, p95 (s) | {pct(ours_conc, 0.95):.3f} | {pct(qe_conc, 0.95):.3f} "
              f"| {ratio(pct(ours_conc, 0.95), pct(qe_conc, 0.95))} |",
              f"| process CPU over the whole run (s) | {ours_proc[0]:.1f} | {qe_proc[0]:.1f} | {ratio(ours_proc[0], qe_proc[0])} |",
              f"| peak RSS (MiB) | {ours_proc[1]:.0f} | {qe_proc[1]:.0f} | {ratio(ours_proc[1], qe_proc[1])} |",
              "",
              f"Steady state: {len(ours_steady)} sequential scrapes of each exporter, alternating, while "
              "`koji-sim live` runs. koji-exporter's CPU includes building the task history once at start-up.",
              ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
