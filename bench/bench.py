"""Side-by-side benchmark of koji-exporter, plain GROUP BY queries and query-exporter.

Run through bench/run.sh, which prepares the databases, the binaries and a virtualenv with
query-exporter and psycopg2. For each scale given (one database per scale), in one run:

* the headline, printed first: database time per scrape interval of everything koji-exporter
  sends, scrapes and background work (task history pass, catalog recount cycles, probes), from the
  server log, beside the plain GROUP BY recount per scrape, with the times from start to full task
  counters and to the catalog;
* per family, the statements koji-exporter sends during a scrape (sql/<family>.sql) and the naive
  queries standing in for it (bench/naive-queries.sql): EXPLAIN (ANALYZE, BUFFERS) time, shared
  buffers touched and rows read by scans; the statements that run only outside scrapes (the task
  history pass, the catalog's background recount) are measured the same way but kept apart;
* the one-time and background work: how long after start the task history pass makes
  `koji_exporter_task_history_ready` 1, how long the catalog's background recount cycles take
  (`koji_exporter_catalog_recount_duration_seconds`), and how slow scrapes get meanwhile;
* per family, koji-exporter's own collector time on the first (cold) scrape and in steady state
  while `koji-sim live` changes the database;
* end to end, /metrics latency of both exporters alone and under concurrent scrapes, and each
  exporter process's CPU time and peak memory.

It prints one markdown section covering every scale side by side and appends it to BENCHMARKS.md.
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
import yaml  # installed with query-exporter

import serverlog

# A family is one entry: its name (sql/<name>.sql, naive queries "<name>.*") and the parameters of
# its parameterised statements. Statements not listed under "skip" or "when_needed" are part of
# every scrape; those under "background" (a subset of "skip") run outside scrapes and are measured
# apart; "when_needed" ones run in a scrape only when it meets something new (their EXPLAIN cost is
# shown but not added to the per-scrape sum; the server-log figures count them as often as sent).
FAMILIES = [
    # host_session_activity and channels_before_1_26 are fallbacks for schemas older than the
    # 1.35 one koji-sim creates; the exporter does not send them there.
    {
        "name": "hosts",
        "params": {"host_session_activity": ["array(select id from host)"]},
        "skip": ["host_session_activity", "channels_before_1_26"],
        "background": [],
        "when_needed": [],
    },
    {
        "name": "tasks",
        "params": {
            "nonterminal": ["array['build','newRepo','tagBuild','image','waitrepo']"],
            "created_after": ["array['build','newRepo']", "(select max(id) - 200 from task)", "10000"],
            "by_id": ["array['build','newRepo']", "array(select id from task where state in (0, 1, 4) limit 500)"],
            "tag_names": ["array(select id from tag order by id limit 50)"],
        },
        # The history pass (start-up and reconciliation) reads through created_after in batches;
        # it is timed as a whole (start until koji_exporter_task_history_ready is 1).
        "skip": [],
        "background": [],
        # tag names for tag ids not seen before; the target map when a request names an unknown target
        "when_needed": ["tag_names", "target_destinations"],
    },
    {
        "name": "catalog",
        "params": {"recount_statement_timeout": ["'300000'"]},
        # These run outside scrapes, in the background recount (one transaction per cycle, every
        # catalog.refresh_interval_seconds, each part only when the change probe says its input
        # moved or the full recount is due). They are measured separately as "background".
        "skip": ["recount_statement_timeout", "catalog_changes", "live_tags", "packages", "inheritance_links",
                 "package_listings", "tagged_builds", "builds_by_package_and_state", "repos"],
        # all of a full recount cycle, measured apart from the scrape statements
        "background": ["catalog_changes", "live_tags", "packages", "inheritance_links", "package_listings",
                       "tagged_builds", "builds_by_package_and_state", "repos"],
        "when_needed": [],
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
    buffers, rows read). Parameters are SQL expressions, evaluated first (EXECUTE takes values).
    Per-node timing is off: reading the clock for every row would slow the whole-table GROUP BY
    queries far more than the index look-ups and so flatter the comparison."""
    if params:
        cur.execute("select " + ", ".join(params))
        values = list(cur.fetchone())
        cur.execute("prepare bench_stmt as " + sql)
        run = ("explain (analyze, timing off, buffers, format json) execute bench_stmt("
               + ", ".join(["%s"] * len(values)) + ")")
    else:
        values, run = [], "explain (analyze, timing off, buffers, format json) " + sql
    for _ in range(2):
        cur.execute(run, values)
        result = cur.fetchone()[0][0]
    if params:
        cur.execute("deallocate bench_stmt")
    plan = result["Plan"]
    buffers = plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0)
    return result["Execution Time"], buffers, scanned_rows(plan)


def sql_costs(dsn):
    """Per family: summed (ms, buffers, rows) of koji-exporter's scrape statements, of the naive
    ones, and of koji-exporter's statements that run only outside scrapes ("background")."""
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    cur = conn.cursor()
    naive = statements(os.path.join(ROOT, "bench", "naive-queries.sql"))
    costs = {}
    for family in FAMILIES:
        name = family["name"]
        ours, background, detail = [0.0, 0, 0], [0.0, 0, 0], []
        for stmt, sql in statements(os.path.join(ROOT, "sql", name + ".sql")):
            skipped = stmt in family["skip"]
            if skipped and stmt not in family["background"]:
                continue
            try:
                ms, buffers, rows = explain(cur, sql, family["params"].get(stmt))
            except psycopg2.Error as error:
                # statements for other schema levels (e.g. channels_before_1_26) do not apply
                detail.append((stmt, None, str(error).splitlines()[0], skipped))
                cur.execute("deallocate all")
                continue
            if stmt not in family["when_needed"]:
                total = background if skipped else ours
                total[0] += ms
                total[1] += buffers
                total[2] += rows
            detail.append((stmt, (ms, buffers, rows), "", "when needed" if stmt in family["when_needed"] else skipped))
        theirs = [0.0, 0, 0]
        for stmt, sql in naive:
            if stmt.split(".")[0] == name:
                ms, buffers, rows = explain(cur, sql, None)
                theirs = [theirs[0] + ms, theirs[1] + buffers, theirs[2] + rows]
                detail.append(("naive " + stmt, (ms, buffers, rows), "", False))
        costs[name] = {"ours": ours, "naive": theirs, "background": background, "detail": detail}
    conn.close()
    return costs


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port, timeout=300, path="/metrics"):
    started = time.monotonic()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
        body = response.read().decode()
    return time.monotonic() - started, body


def target_size(port, path):
    """Series, uncompressed bytes and gzip bytes (as Prometheus asks for it) of one target."""
    _, body = scrape(port, path=path)
    series = sum(1 for line in body.splitlines() if line and not line.startswith("#"))
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=300) as response:
        gzipped = len(response.read()) if response.headers.get("Content-Encoding") == "gzip" else None
    return {"series": series, "bytes": len(body.encode()), "gzip_bytes": gzipped}


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


def sample(body, name, labels=""):
    """The value of one sample (not a HELP or TYPE line) in an exposition, or None."""
    m = re.search(r"^" + re.escape(name + labels) + r" (\S+)$", body, flags=re.M)
    return float(m.group(1)) if m else None


# The catalog's background cycles: a full recount of whole tables, or a read of what changed.
CYCLE_KINDS = ("full", "changes")


def catalog_reads(body):
    """koji_exporter_catalog_reads_total by kind of cycle, as a tuple in the order of CYCLE_KINDS."""
    return tuple(sample(body, "koji_exporter_catalog_reads_total", f'{{part="{part}"}}') or 0
                 for part in CYCLE_KINDS)


def history_log(path):
    """What the exporter logged about its task history passes: (started, finished seconds list,
    failures)."""
    text = open(path, errors="replace").read()
    started = len(re.findall(r"task history pass started", text))
    finished = [float(m) for m in re.findall(r"task history pass finished.*?seconds[=\":]+\s*([0-9.eE+-]+)", text)]
    failed = len(re.findall(r"task history pass failed", text))
    return started, finished, failed


def known_statements():
    """Normalized statement text -> label ("tasks.nonterminal", "naive tasks.task_duration_by_method")
    for every statement of sql/ and bench/naive-queries.sql, so the server log can be attributed."""
    known = {}
    for file in sorted(os.listdir(os.path.join(ROOT, "sql"))):
        if file.endswith(".sql"):
            for name, sql in statements(os.path.join(ROOT, "sql", file)):
                known[serverlog.normalize(sql)] = f"{file[:-4]}.{name}"
    # query-exporter sends the copies in its configuration, whose column names differ
    yaml.SafeLoader.add_constructor("!env", lambda loader, node: None)
    config = yaml.safe_load(open(os.path.join(ROOT, "bench", "query-exporter.yaml")))
    families = {name.split(".", 1)[1]: name for name, _ in statements(os.path.join(ROOT, "bench", "naive-queries.sql"))}
    for name, query in config["queries"].items():
        known[serverlog.normalize(query["sql"])] = "naive " + families.get(name, "other." + name)
    return known


def startup_work(transactions):
    """Database milliseconds of the work the exporter does outside scrapes, from its transactions
    between its start and the steady phase: the task history pass (the transactions that sent a
    `tasks.history_*` statement, a failed try included) and each catalog recount cycle (those
    that sent a catalog background statement; the first is a full recount)."""
    history = sum(ms for ms, labels in transactions if any(l.startswith("tasks.history_") for l in labels))
    recounts = [ms for ms, labels in transactions if labels & BACKGROUND]
    return {"history_ms": history, "recounts_ms": recounts}


def count_nonterminal(dsn):
    conn = psycopg2.connect(dsn)
    cur = conn.cursor()
    cur.execute("select count(*) from task where state in (0, 1, 4)")
    found = cur.fetchone()[0]
    conn.close()
    return found


def same_queue(dsn, queue):
    """Gives the database `queue` non-terminal tasks: the newest are kept, older ones are cancelled
    (as an admin would), then the table is vacuumed. Used so that scales differ only in history."""
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("""update task set state = 3, completion_time = now()
                   where id in (select id from task where state in (0, 1, 4) order by id desc offset %s)""", (queue,))
    cancelled = cur.rowcount
    cur.execute("vacuum analyze task")
    conn.close()
    return cancelled


def table_sizes(dsn):
    conn = psycopg2.connect(dsn)
    cur = conn.cursor()
    cur.execute("select relname, reltuples::int8 from pg_class where relkind = 'r' and relname = any(%s)",
                (["task", "build", "tag_listing", "tag_packages", "tag", "package", "repo"],))
    sizes = dict(cur.fetchall())
    conn.close()
    return sizes


def run_scale(scale, dsn, exporter, sim, qe, workdir, opts):
    """Every measurement on one database; returns a dict for render()."""
    work = os.path.join(workdir, scale)
    os.makedirs(work, exist_ok=True)
    r = {"scale": scale, "sizes": table_sizes(dsn)}
    if opts["same_queue"] is not None:
        r["cancelled"] = same_queue(dsn, opts["same_queue"])
    r["queue_at_start"] = count_nonterminal(dsn)
    print(f"[{scale}] statement costs (EXPLAIN ANALYZE) ...", file=sys.stderr)
    r["costs"] = sql_costs(dsn)
    db = dsn.rsplit("/", 1)[1].split("?")[0]

    ours_port, qe_port = free_port(), free_port()
    log = os.path.join(work, "koji-exporter.log")
    launch_offset = serverlog.log_size(opts["server_log"])
    launched = time.monotonic()
    ours = start([exporter, "serve", "--web.listen-address", f"127.0.0.1:{ours_port}", "--database.url",
                  serverlog.as_role(dsn, serverlog.ROLES["ours"])], log=log)
    wait_for(ours_port)
    print(f"[{scale}] cold scrape of koji-exporter ...", file=sys.stderr)
    r["cold"], body = scrape(ours_port)
    r["cold_family"] = family_seconds(body)
    r["cold_history_ready"] = sample(body, "koji_exporter_task_history_ready")
    r["cold_catalog_available"] = sample(body, "koji_exporter_catalog_available")

    # Start-up: the task history pass and the catalog's first (full) recount both begin with the
    # first scrape and run in the background. Scrape once a second until both are done, noting
    # when each finished and how slow the scrapes were meanwhile.
    print(f"[{scale}] waiting for the task history pass and the first catalog recount ...", file=sys.stderr)
    r["history_ready_after"] = r["catalog_ready_after"] = None
    r["first_recount"] = None
    startup_latency, startup_family = [r["cold"]], {k: [v] for k, v in r["cold_family"].items()}
    deadline = launched + opts["startup_limit"]
    while True:
        elapsed = time.monotonic() - launched
        if r["history_ready_after"] is None and sample(body, "koji_exporter_task_history_ready") == 1:
            r["history_ready_after"] = elapsed
        if r["catalog_ready_after"] is None and sample(body, "koji_exporter_catalog_available") == 1:
            r["catalog_ready_after"] = elapsed
            r["first_recount"] = sample(body, "koji_exporter_catalog_recount_duration_seconds")
            r["first_reads"] = catalog_reads(body)
        if r["history_ready_after"] is not None and r["catalog_ready_after"] is not None:
            break
        if time.monotonic() > deadline:
            print(f"[{scale}] start-up not finished after {opts['startup_limit']} s; going on", file=sys.stderr)
            break
        time.sleep(1)
        seconds, body = scrape(ours_port)
        startup_latency.append(seconds)
        for fam, value in family_seconds(body).items():
            startup_family.setdefault(fam, []).append(value)
    r["startup_scrapes"] = len(startup_latency)
    r["startup_latency_max"] = max(startup_latency)
    r["startup_family_max"] = {fam: max(values) for fam, values in startup_family.items()}

    naive_dsn = serverlog.as_role(dsn, serverlog.ROLES["naive"])
    env = dict(os.environ, KOJI_DSN=re.sub(r"^postgres://", "postgresql://", naive_dsn))
    qe_proc = start([qe, "-H", "127.0.0.1", "-p", str(qe_port), "--config", os.path.join(ROOT, "bench", "query-exporter.yaml")],
                    env=env, log=os.path.join(work, "query-exporter.log"))
    wait_for(qe_port)
    print(f"[{scale}] cold scrape of query-exporter ...", file=sys.stderr)
    r["qe_cold"] = scrape(qe_port)[0]

    live = subprocess.Popen([sim, "live", "--database.url", dsn, "--rate", opts["live_rate"]],
                            stdout=open(os.path.join(work, "live.log"), "w"), stderr=subprocess.STDOUT)
    try:
        time.sleep(5)
        print(f"[{scale}] steady state under koji-sim live ...", file=sys.stderr)
        ours_steady, qe_steady, steady_family, cycles, queue, gaps = [], [], {}, {}, [], []
        # Scrapes come on a fixed interval, as Prometheus sends them, so that each of koji-exporter's
        # covers the same stretch of `live` at every scale; a first scrape, not counted, opens the
        # window. query-exporter is scraped right after koji-exporter, never at the same time.
        scrape(ours_port)
        log_start = serverlog.log_size(opts["server_log"])
        # what the exporter sent from its start until now: the start-up work, by transaction
        r["startup_work"] = startup_work(serverlog.transactions(
            serverlog.read_durations(opts["server_log"], launch_offset, db, end=log_start), opts["known"]))
        began, r["late_ticks"] = time.monotonic(), 0
        for tick in range(1, opts["steady_scrapes"] + 1):
            wait = began + tick * opts["scrape_interval"] - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            else:
                r["late_ticks"] += 1
            queue.append(count_nonterminal(dsn))
            seconds, body = scrape(ours_port)
            ours_steady.append(seconds)
            gaps.append(sample(body, "koji_exporter_task_id_gaps") or 0)
            for fam, value in family_seconds(body).items():
                steady_family.setdefault(fam, []).append(value)
            # one entry per completed recount cycle: the read counters move with every cycle
            cycles[catalog_reads(body)] = sample(body, "koji_exporter_catalog_recount_duration_seconds")
            # The inventory target, scraped as the shipped Prometheus configuration does (every
            # `inventory_every` intervals): each of its scrapes is a collection like any other.
            if tick % opts["inventory_every"] == 0:
                scrape(ours_port, path="/metrics/inventory")
            qe_steady.append(scrape(qe_port)[0])
        r["steady_seconds"] = time.monotonic() - began
        # what both exporters sent in the steady phase, as the server timed it
        r["traffic"] = serverlog.attribute(serverlog.read_durations(opts["server_log"], log_start, db),
                                           opts["known"])
        r["steady_queue"] = queue
        r["steady_gaps"] = gaps
        r["targets"] = {name: target_size(ours_port, path)
                        for name, path in [("operational", "/metrics"), ("inventory", "/metrics/inventory")]}
        print(f"[{scale}] concurrent scrapes ({opts['clients']} clients x {opts['per_client']}) ...", file=sys.stderr)
        r["ours_conc"] = latencies(ours_port, opts["clients"], opts["per_client"])
        r["qe_conc"] = latencies(qe_port, opts["clients"], opts["per_client"])
    finally:
        live.terminate()
        live.wait(timeout=60)
    r["ours_steady"], r["qe_steady"], r["steady_family"] = ours_steady, qe_steady, steady_family
    # recount cycles that completed during the steady phase (the first one is the start-up's)
    parts = CYCLE_KINDS
    previous, r["later_recounts"] = r.get("first_reads"), []
    for reads, duration in sorted(cycles.items()):
        if reads == previous or duration is None or previous is None:
            continue
        read = [part for part, now, before in zip(parts, reads, previous) if now > before]
        r["later_recounts"].append((duration, read))
        previous = reads
    r["ours_proc"] = stop(ours)
    r["qe_proc"] = stop(qe_proc)
    r["history_log"] = history_log(log)
    return r


def main():
    exporter, sim, qe, workdir = sys.argv[1:5]
    runs = [arg.split("=", 1) for arg in sys.argv[5:]]
    if not runs:
        raise SystemExit("usage: bench.py EXPORTER SIM QUERY_EXPORTER WORKDIR SCALE=DSN [SCALE=DSN ...]")
    conn = psycopg2.connect(runs[0][1])
    conn.autocommit = True
    cur = conn.cursor()
    serverlog.prepare_roles(cur)
    server_log = serverlog.log_path(cur)
    conn.close()
    serverlog.log_size(server_log)
    # With several scales, every database gets the queue of the one with the fewest non-terminal
    # tasks, so that they differ only in their history (BENCH_SAME_QUEUE=0 leaves them as they are).
    same = len(runs) > 1 and os.environ.get("BENCH_SAME_QUEUE", "1") != "0"
    opts = {
        "server_log": server_log,
        "known": known_statements(),
        "same_queue": min(count_nonterminal(dsn) for _, dsn in runs) if same else None,
        "steady_scrapes": int(os.environ.get("BENCH_STEADY_SCRAPES", "16")),
        # 8 x 15 s: the inventory job's 2 minute interval in the shipped Prometheus configuration
        "inventory_every": int(os.environ.get("BENCH_INVENTORY_EVERY", "8")),
        "scrape_interval": float(os.environ.get("BENCH_SCRAPE_INTERVAL", "15")),
        "clients": int(os.environ.get("BENCH_CLIENTS", "4")),
        "per_client": int(os.environ.get("BENCH_PER_CLIENT", "3")),
        "live_rate": os.environ.get("BENCH_LIVE_RATE", "5"),
        "startup_limit": float(os.environ.get("BENCH_STARTUP_LIMIT", "1800")),
        # the exporter runs with its defaults (src/config.rs): tasks.reconcile_interval_seconds and
        # catalog.full_recount_interval_seconds set how often the long background work recurs
        "reconcile_interval": 21600.0,
        "full_recount_interval": 21600.0,
    }
    results = [run_scale(scale, dsn, exporter, sim, qe, workdir, opts) for scale, dsn in runs]
    # kept so that a report can be read again or rendered differently without another run
    with open(os.path.join(workdir, "results.json"), "w") as out:
        json.dump({"opts": {k: v for k, v in opts.items() if k != "known"}, "results": results}, out)
    report = render(results, opts)
    print(report)
    with open(os.path.join(ROOT, "BENCHMARKS.md"), "a") as out:
        out.write("\n" + report)


def ratio(a, b):
    if a <= 0:
        return "n/a"
    return f"{b / a:.0f}x" if b / a >= 10 else f"{b / a:.1f}x" if b / a >= 1 else f"{b / a:.2f}x"


def share(part, whole):
    """part as a percentage of whole."""
    if whole <= 0:
        return "n/a"
    value = 100 * part / whole
    return f"{value:.2f} %" if value < 10 else f"{value:.0f} %"


def secs(value, digits=1):
    return "n/a" if value is None else f"{value:.{digits}f}"


BACKGROUND = {f"{family['name']}.{stmt}" for family in FAMILIES for stmt in family["background"]}


def traffic(r, side):
    """Server-logged milliseconds per scrape of one exporter ("ours" or "naive") by family, and
    by statement label as (milliseconds, executions) per scrape."""
    scrapes = max(1, len(r["ours_steady"] if side == "ours" else r["qe_steady"]))
    families, per_statement = {}, {}
    for label, (ms, executions) in r["traffic"][side].items():
        family = label.removeprefix("naive ").split(".")[0] if "." in label else label
        if label in BACKGROUND:
            family = "catalog background recount (outside scrapes)"
        elif family in ("schema", "session"):
            family = "session and schema checks"
        families[family] = families.get(family, 0.0) + ms / scrapes
        per_statement[label] = (ms / scrapes, executions / scrapes)
    return families, per_statement


def headline(r, opts):
    """Database milliseconds per scrape interval of everything koji-exporter sends, and of the
    naive side's recount, as a dict. The steady phase's log gives what recurs within minutes
    (scrapes, probes, catalog cycles that re-read what moved), divided by its intervals; work
    that recurs on a longer period is added at its rate: the task history pass (measured at
    start-up) once per reconciliation interval, the catalog's full recount (its first cycle)
    once per full recount interval."""
    interval = opts["scrape_interval"]
    ours_steady = sum(ms for ms, _ in r["traffic"]["ours"].values()) / max(1, len(r["ours_steady"]))
    naive = sum(ms for ms, _ in r["traffic"]["naive"].values()) / max(1, len(r["qe_steady"]))
    work = r.get("startup_work", {"history_ms": 0.0, "recounts_ms": []})
    full_recount = work["recounts_ms"][0] if work["recounts_ms"] else 0.0
    history = work["history_ms"] * interval / opts["reconcile_interval"]
    catalog = full_recount * interval / opts["full_recount_interval"]
    total = ours_steady + history + catalog
    return {"steady": ours_steady, "history_pass": work["history_ms"], "history": history,
            "full_recount": full_recount, "catalog": catalog, "total": total, "naive": naive}


def render_headline(results, opts):
    """The one figure: database time per scrape interval of all koji-exporter sends, against the
    plain GROUP BY recount per scrape, with the start-up times beside it."""
    interval = opts["scrape_interval"]
    heads = [headline(r, opts) for r in results]
    scales = [r["scale"] for r in results]
    lines = [
        f"### Headline: database time per {interval:g} s scrape interval, everything each side sends",
        "",
        "koji-exporter: every statement it sent, scrapes and background work alike, as the server logged it "
        "(`bench/serverlog.py`): the steady phase's total divided by its scrape intervals (scrapes of the operational "
        f"target every interval and of the inventory target every {opts['inventory_every']}th, probes, the "
        "catalog cycles that re-read what moved), plus the work that recurs on a longer period at its rate: the "
        f"task history pass (its database time at start-up) once per reconciliation interval "
        f"({opts['reconcile_interval']:g} s) and the catalog's full recount (its first cycle) once per full "
        f"recount interval ({opts['full_recount_interval']:g} s), the exporter's defaults. naive: query-exporter "
        "running the plain GROUP BY queries of `bench/naive-queries.sql`, one scrape per interval.",
        "",
        "| measure |" + "".join(f" `{s}` |" for s in scales) + (" growth |" if len(results) > 1 else ""),
        "|---|" + "---:|" * (len(scales) + (1 if len(results) > 1 else 0)),
    ]

    def row(label, values, fmt):
        cells = [fmt(v) for v in values]
        if len(values) > 1:
            a, b = values[0], values[-1]
            cells.append(ratio(a, b) if isinstance(a, (int, float)) and a and b is not None else "n/a")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    ms = lambda v: f"{v:,.2f}"
    row(f"**koji-exporter, all it sends, ms per {interval:g} s**", [h["total"] for h in heads], lambda v: f"**{v:,.2f}**")
    row(f"**naive GROUP BY recount, ms per {interval:g} s**", [h["naive"] for h in heads], lambda v: f"**{v:,.0f}**")
    lines.append("| **koji-exporter / naive** | " + " | ".join(f"**{share(h['total'], h['naive'])}**" for h in heads)
                 + (" |" if len(results) == 1 else " n/a |"))
    row("of which: steady phase (scrapes, probes, catalog cycles), ms per interval", [h["steady"] for h in heads], ms)
    row("of which: task history pass at its rate, ms per interval", [h["history"] for h in heads], ms)
    row("of which: catalog full recount at its rate, ms per interval", [h["catalog"] for h in heads], ms)
    row("task history pass, database time of one pass (ms)", [h["history_pass"] for h in heads], lambda v: f"{v:,.0f}")
    row("catalog full recount, database time of one cycle (ms)", [h["full_recount"] for h in heads], lambda v: f"{v:,.0f}")
    row("start to full task counters (`koji_exporter_task_history_ready` 1, s)",
        [r["history_ready_after"] for r in results], secs)
    row("start to the catalog (`koji_exporter_catalog_available` 1, s)", [r["catalog_ready_after"] for r in results], secs)
    for target in ("operational", "inventory"):
        sizes = [r.get("targets", {}).get(target, {}) for r in results]
        row(f"{target} target: series in one answer", [t.get("series", 0) for t in sizes], lambda v: f"{v:,}")
        row(f"{target} target: bytes uncompressed", [t.get("bytes", 0) for t in sizes], lambda v: f"{v:,}")
        row(f"{target} target: bytes gzip", [t.get("gzip_bytes") or 0 for t in sizes], lambda v: f"{v:,}")
    lines.append("| task history pass, its own duration from the exporter's log (s) | " + " | ".join(
        ", ".join(f"{x:.1f}" for x in r["history_log"][1]) or "not logged" for r in results)
        + (" |" if len(results) == 1 else " n/a |"))
    lines += ["", "Growth: the last scale's figure over the first's. The task table grows "
              + (f"{ratio(results[0]['sizes'].get('task', 0), results[-1]['sizes'].get('task', 0))} "
                 f"from `{scales[0]}` to `{scales[-1]}`." if len(results) > 1 else "with the scale."), ""]
    return lines


def comparison_header(results):
    """Header and rule of a table with, per scale, koji-exporter ms, naive ms and their share, then
    the growth of both from the first scale to the last."""
    head, rule = "| family |", "|---|"
    for r in results:
        head += f" `{r['scale']}` koji-exporter ms | `{r['scale']}` naive ms | `{r['scale']}` koji-exporter / naive |"
        rule += "---:|---:|---:|"
    if len(results) > 1:
        first, last = results[0]["scale"], results[-1]["scale"]
        head += f" koji-exporter {last} / {first} | naive {last} / {first} |"
        rule += "---:|---:|"
    return [head, rule]


def render_traffic(results, opts):
    """The headline: database time per scrape of both exporters' real steady-state traffic."""
    scales = [r["scale"] for r in results]
    grow = len(results) > 1
    lines = [
        "### Database time per scrape in the steady state, as the server logged it",
        "",
        "Each exporter connects as its own role, and the server logs every statement of those two roles with "
        "its duration (`bench/serverlog.py`): parse, bind and execute steps of what was really sent, including "
        "statements sent only when something new turned up. Figures are the sums over the steady phase "
        "(start-up work finished, `koji-sim live` running, one scrape of each exporter every "
        f"{opts['scrape_interval']:g} s) divided by that exporter's number of scrapes. "
        "naive: query-exporter running the plain GROUP BY queries of `bench/naive-queries.sql` on every scrape.",
        "",
    ]
    queue = []
    for r in results:
        q = sorted(r["steady_queue"]) or [0]
        cancelled = f", after {r['cancelled']:,} older ones were cancelled" if r.get("cancelled") else ""
        queue.append(f"`{r['scale']}` {r['queue_at_start']:,} at the start{cancelled}, median "
                     f"{statistics.median(q):,.0f} (min {q[0]:,}, max {q[-1]:,}) during the steady phase, "
                     f"median {statistics.median(r['steady_gaps'] or [0]):,.0f} missing ids watched")
    lines += ["Non-terminal tasks (the set every scrape reads) and missing ids the engine watches "
              "(`koji_exporter_task_id_gaps`; each is looked up every scrape for 10 s, then once a minute): "
              + "; ".join(queue) + ".", ""]
    lines += comparison_header(results)
    views = [(traffic(r, "ours")[0], traffic(r, "naive")[0]) for r in results]
    names = []
    for ours, naive in views:
        for name in list(ours) + list(naive):
            if name not in names:
                names.append(name)
    order = ["hosts", "tasks", "catalog"]
    names = [n for n in order if n in names] + sorted(n for n in names if n not in order)
    for name in names:
        row = f"| {name} |"
        for ours, naive in views:
            o, n = ours.get(name), naive.get(name)
            row += (f" {secs(o, 2)} | {secs(n, 1)} | "
                    f"{share(o, n) if o is not None and n is not None else 'n/a'} |")
        if grow:
            o0, o1 = views[0][0].get(name), views[-1][0].get(name)
            n0, n1 = views[0][1].get(name), views[-1][1].get(name)
            row += (f" {ratio(o0, o1) if o0 and o1 else 'n/a'} | {ratio(n0, n1) if n0 and n1 else 'n/a'} |")
        lines.append(row)
    lines += ["", "The task family's statements in those scrapes (ms per scrape / executions per scrape):", "",
              "| statement |" + "".join(f" `{s}` |" for s in scales), "|---|" + "---:|" * len(scales)]
    per = [traffic(r, "ours")[1] for r in results]
    labels = sorted({label for p in per for label in p if label.startswith("tasks.")})
    for label in labels:
        cells = [f"{p[label][0]:.3f} / {p[label][1]:.2f}" if label in p else "not sent" for p in per]
        lines.append(f"| `{label.split('.', 1)[1]}` | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def render(results, opts):
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    scales = [r["scale"] for r in results]
    first, last = results[0], results[-1]
    families = list(first["costs"])
    grow = len(results) > 1
    lines = [
        f"## Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, scales {', '.join(f'`{s}`' for s in scales)}",
        "",
        f"Command: `bench/run.sh {' '.join(scales)}` at commit `{commit}`. Machine: {os.cpu_count()} CPUs, "
        f"{mem:.0f} GiB memory, {platform.system()} {platform.machine()}, {pg}, server on loopback.",
        "",
        "Table sizes (planner estimates): " + "; ".join(
            f"`{r['scale']}`: " + ", ".join(f"{name} {r['sizes'].get(name, 0):,}" for name in
                                           ("task", "build", "tag_listing", "tag_packages", "tag", "package", "repo"))
            for r in results) + ".",
        "",
    ]
    lines += render_headline(results, opts)
    lines += render_traffic(results, opts)
    lines += [
        "### Cost of each statement, by family (EXPLAIN (ANALYZE, TIMING OFF, BUFFERS), second of two runs)",
        "",
        "koji-exporter: the statements every scrape sends (those sent only when needed are listed below but "
        "not added up); naive: the plain GROUP BY queries of `bench/naive-queries.sql`, all run on every scrape.",
        "",
    ]
    lines += comparison_header(results)
    for fam in families:
        row = f"| {fam} |"
        for r in results:
            o, n = r["costs"][fam]["ours"], r["costs"][fam]["naive"]
            row += f" {o[0]:.1f} | {n[0]:.1f} | {share(o[0], n[0])} |"
        if grow:
            row += (f" {ratio(first['costs'][fam]['ours'][0], last['costs'][fam]['ours'][0])} "
                    f"| {ratio(first['costs'][fam]['naive'][0], last['costs'][fam]['naive'][0])} |")
        lines.append(row)

    lines += ["", "Shared buffers touched and rows read by scans, per scrape:", "",
              "| family | scale | koji-exporter buffers | naive buffers | naive / koji-exporter | koji-exporter rows read "
              "| naive rows read | naive / koji-exporter |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for fam in families:
        for r in results:
            o, n = r["costs"][fam]["ours"], r["costs"][fam]["naive"]
            lines.append(f"| {fam} | {r['scale']} | {o[1]} | {n[1]} | {ratio(o[1], n[1])} | {o[2]} | {n[2]} "
                         f"| {ratio(o[2], n[2])} |")

    lines += ["", "Per statement (ms / buffers / rows read); \"background\" statements run outside scrapes:", "",
              "| family | statement | when |" + "".join(f" `{s}` |" for s in scales),
              "|---|---|---|" + "---:|" * len(scales)]
    for fam in families:
        order = [(stmt, bg) for stmt, _, _, bg in first["costs"][fam]["detail"]]
        for stmt, bg in order:
            when = bg if isinstance(bg, str) else "background" if bg else "naive" if stmt.startswith("naive ") else "scrape"
            cells = []
            for r in results:
                found = [d for d in r["costs"][fam]["detail"] if d[0] == stmt]
                value = found[0][1] if found else None
                cells.append(f"{value[0]:.1f} / {value[1]} / {value[2]}" if value else "not run")
            name = stmt.removeprefix("naive ")
            lines.append(f"| {fam} | `{name}` | {when} | " + " | ".join(cells) + " |")

    lines += ["", "### Work outside scrapes: the task history pass and the catalog recount", "",
              "| measure |" + "".join(f" `{s}` |" for s in scales), "|---|" + "---:|" * len(scales)]

    def row(label, fn):
        lines.append(f"| {label} | " + " | ".join(fn(r) for r in results) + " |")

    row("task history pass: start of the exporter until `koji_exporter_task_history_ready` is 1 (s)",
        lambda r: secs(r["history_ready_after"]))
    row("task history pass: its own duration, from the exporter's log (s)",
        lambda r: ", ".join(f"{x:.1f}" for x in r["history_log"][1]) or "not logged")
    row("task history passes started / finished / failed in the run",
        lambda r: f"{r['history_log'][0]} / {len(r['history_log'][1])} / {r['history_log'][2]}")
    row("`koji_exporter_task_history_ready` on the first scrape", lambda r: secs(r["cold_history_ready"], 0))
    row("catalog: start of the exporter until `koji_exporter_catalog_available` is 1 (s)",
        lambda r: secs(r["catalog_ready_after"]))
    row("catalog: first background cycle, a full recount (`koji_exporter_catalog_recount_duration_seconds`, s)",
        lambda r: secs(r["first_recount"], 2))
    row("catalog: database time of a full recount's statements (EXPLAIN ANALYZE sum, ms)",
        lambda r: f"{r['costs']['catalog']['background'][0]:.0f}")
    row("catalog: later cycles under `koji-sim live` (s each; kind of cycle)",
        lambda r: ", ".join(f"{d:.2f} ({' '.join(read)})" for d, read in r["later_recounts"]) or "none completed")
    row("scrapes while those ran (start-up, one a second)", lambda r: str(r["startup_scrapes"]))
    row("slowest of those scrapes, /metrics (s)", lambda r: f"{r['startup_latency_max']:.3f}")
    for fam in families:
        row(f"slowest {fam} collector time in those scrapes (s)",
            lambda r, fam=fam: f"{r['startup_family_max'].get(fam, float('nan')):.4f}")
    row("koji-exporter peak RSS over the run (MiB)", lambda r: f"{r['ours_proc'][1]:.0f}")
    row("koji-exporter CPU over the run (s)", lambda r: f"{r['ours_proc'][0]:.1f}")

    lines += ["", "### koji-exporter collector time per family (its own `koji_exporter_collector_duration_seconds`)", "",
              "Steady state: scrapes after start-up finished, while `koji-sim live` runs "
              f"(rate {opts['live_rate']} top-level tasks/s).", "",
              "| family |" + "".join(f" `{s}` first scrape (s) | `{s}` steady median (s) | `{s}` steady max (s) |"
                                      for s in scales),
              "|---|" + "---:|---:|---:|" * len(scales)]
    for fam in families:
        cells = []
        for r in results:
            values = r["steady_family"].get(fam, [float("nan")])
            cells.append(f"{r['cold_family'].get(fam, float('nan')):.4f} | {statistics.median(values):.4f} "
                         f"| {max(values):.4f}")
        lines.append(f"| {fam} | " + " | ".join(cells) + " |")

    lines += ["", "### End to end", "",
              "| measure |" + "".join(f" `{s}` koji-exporter | `{s}` query-exporter | `{s}` ratio |" for s in scales),
              "|---|" + "---:|---:|---:|" * len(scales)]

    def e2e(label, ours, theirs, digits=3):
        cells = []
        for r in results:
            a, b = ours(r), theirs(r)
            cells.append(f"{a:.{digits}f} | {b:.{digits}f} | {ratio(a, b)}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    e2e("first /metrics after start (s)", lambda r: r["cold"], lambda r: r["qe_cold"])
    e2e("steady /metrics, median (s)", lambda r: statistics.median(r["ours_steady"]),
        lambda r: statistics.median(r["qe_steady"]))
    e2e(f"{opts['clients']} concurrent scrapers, p50 (s)", lambda r: pct(r["ours_conc"], 0.5),
        lambda r: pct(r["qe_conc"], 0.5))
    e2e(f"{opts['clients']} concurrent scrapers, p95 (s)", lambda r: pct(r["ours_conc"], 0.95),
        lambda r: pct(r["qe_conc"], 0.95))
    e2e("process CPU over the whole run (s)", lambda r: r["ours_proc"][0], lambda r: r["qe_proc"][0], 1)
    e2e("peak RSS (MiB)", lambda r: r["ours_proc"][1], lambda r: r["qe_proc"][1], 0)
    lines += ["", "Ratio: query-exporter / koji-exporter. Steady state: " + "; ".join(
        f"`{r['scale']}` {len(r['ours_steady'])} scrapes of each exporter, one pair every {opts['scrape_interval']:g} s "
        f"({r['late_ticks']} late), over {r['steady_seconds']:.0f} s"
        for r in results) + ". koji-exporter's CPU includes the task history pass and the catalog recounts.", ""]

    tasks = [(traffic(r, "ours")[0].get("tasks", 0.0), traffic(r, "naive")[0].get("tasks", 0.0)) for r in results]
    catalog = [r["costs"].get("catalog") for r in results]
    heads = [headline(r, opts) for r in results]
    lines += ["### Against the acceptance criteria", ""]
    lines.append(f"- headline, database time per {opts['scrape_interval']:g} s of everything koji-exporter sends "
                 "(scrapes and background work) as a share of the plain GROUP BY recount (at most 1 %, not growing "
                 "with the table): " + ", ".join(f"`{r['scale']}` {h['total']:,.1f} ms against {h['naive']:,.0f} ms, "
                                                 f"{share(h['total'], h['naive'])}" for r, h in zip(results, heads))
                 + (f"; koji-exporter {last['scale']} / {first['scale']}: {ratio(heads[0]['total'], heads[-1]['total'])}"
                    if grow else "") + ".")
    lines.append("- start to full task counters: " + ", ".join(
        f"`{r['scale']}` {secs(r['history_ready_after'])} s" for r in results) + "; start to the catalog: " + ", ".join(
        f"`{r['scale']}` {secs(r['catalog_ready_after'])} s" for r in results) + ".")
    lines.append("- tasks, steady-state database time per scrape (server log) as a share of the plain GROUP BY "
                 "recount's: " + ", ".join(f"`{r['scale']}` {t[0]:.2f} ms against {t[1]:.0f} ms, {share(t[0], t[1])}"
                                           for r, t in zip(results, tasks))
                 + (f"; koji-exporter {last['scale']} / {first['scale']}: {ratio(tasks[0][0], tasks[-1][0])}, naive: "
                    f"{ratio(tasks[0][1], tasks[-1][1])}, task table {ratio(first['sizes'].get('task', 0), last['sizes'].get('task', 0))}"
                    if grow else "") + ".")
    if all(catalog):
        lines.append("- catalog, database time per scrape as a share of the plain recount queries: " + ", ".join(
            f"`{r['scale']}` {share(r['costs']['catalog']['ours'][0], r['costs']['catalog']['naive'][0])}"
            for r in results) + "; slowest catalog collector time in a scrape while the first full recount ran: "
            + ", ".join(f"`{r['scale']}` {r['startup_family_max'].get('catalog', float('nan')):.4f} s "
                        f"(the recount took {secs(r['first_recount'], 2)} s)" for r in results) + ".")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
