"""Database time of real traffic, from the PostgreSQL server's own log.

EXPLAIN ANALYZE of a statement says what it costs when sent; it cannot say how often a scrape
sends it. Some of koji-exporter's statements run only when something new turns up (the build
target map when an unknown target is named, tag names for unknown tag ids), so summing all of
them per scrape overstates the cost, and leaving them out understates it. The server log says
exactly what was sent and how long the server spent on it.

The benchmark therefore connects each exporter as its own role, with `log_min_duration_statement`
set to 0 for that role only (`prepare_roles`); the server then logs one `duration:` line for
every parse, bind and execute step of that role's statements. `read_durations` reads the lines
a window of the benchmark added to the log and `attribute` assigns each duration to the
statement of `sql/<family>.sql` or `bench/naive-queries.sql` whose text it is; `transactions`
groups one role's durations by the transaction that sent them, so that work outside scrapes (the
task history pass, the catalog's recount cycles) can be told apart from the scrapes around it.

Roles and the log need a superuser on the database host: run the benchmark there.
"""

import os
import re

ROLES = {"ours": "koji_bench_exporter", "naive": "koji_bench_naive"}

# "%m [%p] %q%u@%d " is the default prefix on Debian; only the user, database and message matter.
_LINE = re.compile(r"^.*?\[(?P<pid>\d+)\] (?P<user>[^@ ]+)@(?P<db>\S+) LOG:  duration: (?P<ms>[0-9.]+) ms  "
                   r"(?:(?P<step>parse|bind|execute) [^:]*|statement): (?P<text>.*)$")
_COMMENT = re.compile(r"--[^\n]*")


def normalize(sql):
    """Statement text without comments, whitespace collapsed, lower case, no trailing semicolon."""
    return " ".join(_COMMENT.sub(" ", sql).split()).lower().rstrip(";").strip()


def prepare_roles(cur):
    """Creates (or updates) the two logging roles. `cur` belongs to a superuser."""
    for role in ROLES.values():
        cur.execute("select 1 from pg_roles where rolname = %s", (role,))
        if cur.fetchone() is None:
            cur.execute(f"create role {role} login")
        cur.execute(f"grant pg_read_all_data to {role}")
        cur.execute(f"alter role {role} set log_min_duration_statement = 0")
        # parameters (long id arrays) would only bloat the log
        cur.execute(f"alter role {role} set log_parameter_max_length = 0")


def as_role(dsn, role):
    """dsn with its user replaced by role."""
    return re.sub(r"^(postgres(?:ql)?://)(?:[^@/]*@)?", lambda m: f"{m.group(1)}{role}@", dsn)


def log_path(cur):
    """Where the server writes its log: BENCH_PG_LOG, else the logging collector's current file,
    else Debian's default for the server's major version."""
    if os.environ.get("BENCH_PG_LOG"):
        return os.environ["BENCH_PG_LOG"]
    cur.execute("select pg_current_logfile(), current_setting('data_directory'), "
                "current_setting('server_version_num')::int / 10000")
    current, data_dir, major = cur.fetchone()
    if current:
        return current if os.path.isabs(current) else os.path.join(data_dir, current)
    return f"/var/log/postgresql/postgresql-{major}-main.log"


def log_size(path):
    try:
        return os.path.getsize(path)
    except OSError as error:
        raise SystemExit(f"bench: cannot read the server log {path} ({error.strerror}); run the benchmark on "
                         "the database host as a user who may read it, or name it in BENCH_PG_LOG")


def read_durations(path, start, db, end=None):
    """(role, milliseconds, statement text, whether the line ends an execution, server process id)
    for every duration line of database `db` written to the log between byte offsets `start` and
    `end` (the end of the log when None). A statement sent with the extended protocol logs a parse
    (once per connection), a bind and an execute step; one sent with the simple protocol logs one
    `statement:` line. Continuation lines start with a tab."""
    with open(path, "rb") as log:
        log.seek(start)
        text = log.read(-1 if end is None else max(0, end - start)).decode(errors="replace")
    found, current = [], None
    for line in text.splitlines():
        if line.startswith("\t") and current is not None:
            current[2].append(line[1:])
            continue
        if current is not None:
            found.append((current[0], current[1], "\n".join(current[2]), current[3], current[4]))
            current = None
        m = _LINE.match(line)
        if m and m.group("db") == db and m.group("user") in ROLES.values():
            ends = m.group("step") in (None, "execute")
            current = (m.group("user"), float(m.group("ms")), [m.group("text")], ends, m.group("pid"))
    if current is not None:
        found.append((current[0], current[1], "\n".join(current[2]), current[3], current[4]))
    return found


def attribute(durations, known):
    """Sums durations per (role key, statement label). `known` maps normalized statement text to
    a label such as "tasks.nonterminal"; transaction control is "transaction", the rest (a
    driver's session set-up) "other".
    Returns {role key: {label: [milliseconds, executions]}}."""
    role_key = {role: key for key, role in ROLES.items()}
    totals = {key: {} for key in ROLES}
    for role, ms, text, ends, _ in durations:
        label = _label(text, known)
        entry = totals[role_key[role]].setdefault(label, [0.0, 0])
        entry[0] += ms
        entry[1] += int(ends)
    return totals


def _label(text, known):
    norm = normalize(text)
    if norm in known:
        return known[norm]
    if norm.split(" ")[0] in ("begin", "commit", "rollback", "start", "end"):
        return "transaction"
    return "other"


def transactions(durations, known, role="ours"):
    """The durations of one role grouped into its transactions: per server process, from a
    `begin` to the `commit` or `rollback` that ends it (a statement outside one stands alone).
    Returns [(milliseconds, set of statement labels)] in log order, so that a transaction can be
    told by what it sent: the task history pass, a catalog recount cycle, a scrape's family."""
    open_by_pid, done = {}, []
    for who, ms, text, ends, pid in durations:
        if who != ROLES[role]:
            continue
        label = _label(text, known)
        word = normalize(text).split(" ")[0]
        current = open_by_pid.get(pid)
        if current is None:
            current = [0.0, set()]
            if word in ("begin", "start"):
                open_by_pid[pid] = current
            else:
                done.append(current)
        current[0] += ms
        current[1].add(label)
        if word in ("commit", "rollback", "end") and ends and open_by_pid.get(pid) is current:
            done.append(open_by_pid.pop(pid))
    done.extend(open_by_pid.values())
    return [(ms, labels) for ms, labels in done]
