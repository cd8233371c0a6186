#!/usr/bin/env python3
"""Does the task family's per-scrape cost grow with the size of the task table?

bench/task-scaling.py [SCALE ...]   (default: medium large)

The per-scrape statements of sql/tasks.sql read the non-terminal tasks (task_by_state), the
tasks created since the last scrape (a primary-key range) and a few tracked ids (primary key).
Their cost should follow the queue and the arrival rate, not the history. To show that, this
script gives every database the same queue (the extra non-terminal tasks of the larger ones are
cancelled and vacuumed away, so run it on simulator databases only) and the same arrivals (the newest 200 tasks
count as new, 100 tracked ids are re-read), then times each statement with EXPLAIN ANALYZE,
best of five, on each koji_sim_<scale> database of the server in BENCH_PG.
"""
import json
import os
import re
import subprocess
import sys

PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METHODS = "array['build','newRepo','tagBuild','waitrepo','distRepo','image']"


def psql(db, sql):
    out = subprocess.run(["psql", f"{PG}/{db}", "-qAtX", "-c", sql], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def statements():
    text = open(os.path.join(ROOT, "sql", "tasks.sql")).read()
    found = {}
    for part in re.split(r"^-- name: *", text, flags=re.M)[1:]:
        name, _, body = part.partition("\n")
        found[name.strip()] = "\n".join(l for l in body.splitlines() if not l.startswith("--")).strip()
    return found


def explain(db, sql):
    best = None
    for _ in range(5):
        plan = json.loads(psql(db, "explain (analyze, buffers, format json) " + sql))[0]
        ms = plan["Execution Time"]
        buffers = plan["Plan"].get("Shared Hit Blocks", 0) + plan["Plan"].get("Shared Read Blocks", 0)
        if best is None or ms < best[0]:
            best = (ms, buffers)
    return best


def main():
    scales = sys.argv[1:] or ["medium", "large"]
    dbs = {s: f"koji_sim_{s}" for s in scales}
    sizes = {s: int(psql(db, "select count(*) from task")) for s, db in dbs.items()}
    queue = min(int(psql(db, "select count(*) from task where state in (0, 1, 4)")) for db in dbs.values())
    for db in dbs.values():
        psql(db, f"""update task set state = 3, completion_time = now()
                     where id in (select id from task where state in (0, 1, 4) order by id desc
                                  offset {queue})""")
        psql(db, "vacuum analyze task")
    sql = statements()
    rows = []
    for s, db in dbs.items():
        top = psql(db, "select max(id) from task")
        tracked = f"array(select id from task where id <= {top} order by id desc limit 100)"
        cases = {
            "nonterminal": sql["nonterminal"].replace("$1", METHODS),
            "created_after": sql["created_after"].replace("$1", METHODS).replace("$2", f"{int(top) - 200}").replace("$3", "20000"),
            "by_id": sql["by_id"].replace("$1", METHODS).replace("$2", tracked),
        }
        timings = {name: explain(db, text) for name, text in cases.items()}
        rows.append((s, sizes[s], timings))
    print(f"Same queue everywhere: {queue} non-terminal tasks; 200 new tasks and 100 tracked ids per scrape.\n")
    print("| scale | tasks in table | " + " | ".join(f"{n} ms (buffers)" for n in rows[0][2]) + " | total ms |")
    print("|---|---:|" + "---:|" * (len(rows[0][2]) + 1))
    for s, size, timings in rows:
        cells = " | ".join(f"{ms:.2f} ({buf})" for ms, buf in timings.values())
        print(f"| {s} | {size:,} | {cells} | {sum(ms for ms, _ in timings.values()):.2f} |")
    first, last = rows[0], rows[-1]
    growth = sum(ms for ms, _ in last[2].values()) / max(sum(ms for ms, _ in first[2].values()), 1e-9)
    print(f"\nTable {last[1] / first[1]:.1f}x larger, per-scrape statements {growth:.2f}x the time.")


if __name__ == "__main__":
    main()
