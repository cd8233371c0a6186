#!/usr/bin/env python3
"""Writes the Grafana dashboards in deploy/grafana/dashboards/ from the panel lists below.

    deploy/grafana/generate.py          # rewrite the JSON files
    deploy/grafana/generate.py --check  # fail if a JSON file differs from what this would write

Edit the panels here, run the script, commit both. Every query goes to the data source chosen
in the `datasource` template variable; `instance` selects the Koji site(s) (one exporter each).
Standard library only.
"""

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "dashboards"
DS = {"type": "prometheus", "uid": "${datasource}"}


def m(name, extra=""):
    """A selector of `name` limited to the chosen Koji sites, with extra matchers."""
    matchers = 'instance=~"$instance"' + (", " + extra if extra else "")
    return f"{name}{{{matchers}}}"


def target(expr, legend="", instant=False, fmt=None):
    t = {"datasource": DS, "expr": expr, "legendFormat": legend or "__auto", "range": not instant, "instant": instant}
    if fmt:
        t["format"] = fmt
    return t


def panel(kind, title, description, targets, w=12, h=8, unit=None, options=None, field=None, **extra):
    defaults = dict(field or {})
    if unit:
        defaults["unit"] = unit
    p = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": extra.pop("overrides", [])},
        "options": options or {},
        "gridPos": {"w": w, "h": h},
    }
    p.update(extra)
    return p


def row(title):
    return {"type": "row", "title": title, "collapsed": False, "panels": [], "gridPos": {"w": 24, "h": 1}}


def stat(title, description, expr, unit=None, w=6, h=4, **extra):
    return panel("stat", title, description, [target(expr, instant=True)], w=w, h=h, unit=unit,
                 options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                          "colorMode": "value", "graphMode": "area"}, **extra)


def series(title, description, targets, unit=None, w=12, h=8, stack=False, **extra):
    field = {"custom": {"fillOpacity": 10, "showPoints": "never",
                        "stacking": {"mode": "normal" if stack else "none", "group": "A"}}}
    return panel("timeseries", title, description, targets, w=w, h=h, unit=unit, field=field,
                 options={"legend": {"displayMode": "table", "placement": "right", "calcs": ["lastNotNull", "max"]},
                          "tooltip": {"mode": "multi", "sort": "desc"}}, **extra)


def bars(title, description, expr, legend, unit=None, w=12, h=8, maximum=None):
    field = {"min": 0}
    if maximum is not None:
        field["max"] = maximum
    return panel("bargauge", title, description, [target(expr, legend, instant=True)], w=w, h=h, unit=unit,
                 field=field, options={"orientation": "horizontal", "displayMode": "gradient",
                                       "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}})


def heatmap(title, description, expr):
    return panel("heatmap", title, description, [target(expr, "{{le}}", fmt="heatmap")], w=12, h=9,
                 options={"calculate": False, "yAxis": {"unit": "s"}, "cellGap": 1,
                          "color": {"mode": "scheme", "scheme": "Oranges"}, "tooltip": {"show": True}})


def variable_datasource():
    return {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
            "current": {}, "hide": 0, "refresh": 1, "regex": "", "options": []}


def variable_query(name, label, query, multi=True):
    return {"name": name, "label": label, "type": "query", "datasource": DS,
            "query": {"query": query, "refId": f"{name}-values"}, "definition": query,
            "refresh": 2, "includeAll": True, "multi": multi, "allValue": ".+", "sort": 1,
            "current": {}, "hide": 0, "regex": "", "options": []}


def layout(panels):
    """Places panels left to right, wrapping at 24 columns; rows start a new line."""
    x = y = line_height = 0
    for number, p in enumerate(panels, start=1):
        p["id"] = number
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if p["type"] == "row" or x + w > 24:
            x, y, line_height = 0, y + line_height, 0
        p["gridPos"].update({"x": x, "y": y})
        for t_number, t in enumerate(p.get("targets", [])):
            t["refId"] = chr(ord("A") + t_number)
        x += w
        line_height = max(line_height, h)
        if p["type"] == "row":
            x, y, line_height = 0, y + h, 0
    return panels


def dashboard(uid, title, description, panels, variables=(), time_from="now-6h"):
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["koji", "koji-exporter"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "1m",
        "time": {"from": time_from, "to": "now"},
        "timezone": "",
        "links": [{"title": "Koji dashboards", "type": "dashboards", "tags": ["koji"], "asDropdown": True}],
        "templating": {"list": [variable_datasource(),
                                variable_query("instance", "Koji site (exporter)", "label_values(koji_up, instance)"),
                                *variables]},
        "annotations": {"list": []},
        "panels": layout(panels),
    }


def overview():
    per_host = "job, instance, host"
    panels = [
        row("Builders"),
        stat("Enabled builders", "Builders whose current configuration is enabled (koji_hosts_enabled).",
             f"sum({m('koji_hosts_enabled')})"),
        stat("Ready builders", "Enabled builders that say they take work.",
             f"sum({m('koji_host_enabled')} * on ({per_host}) {m('koji_host_ready')})"),
        stat("Busy builders", "Builders full by kojid's rule (load over capacity or job limit reached).",
             f"sum({m('koji_host_busy')})"),
        stat("Enabled but not ready, not busy", "What the KojiBuilderNotReady alert looks at.",
             f"count({m('koji_host_enabled')} == 1 and on ({per_host}) {m('koji_host_ready')} == 0 "
             f"and on ({per_host}) {m('koji_host_busy')} == 0) or vector(0)"),
        panel("table", "Builders", "One row per builder: enabled and ready flags with the last check-in "
              "(koji_builders_update), whether it is full, its load and capacity.",
              [target(f"{m('koji_builders_update')} * 1000", instant=True, fmt="table"),
               target(m("koji_host_busy"), instant=True, fmt="table"),
               target(m("koji_host_task_load"), instant=True, fmt="table"),
               target(m("koji_host_capacity"), instant=True, fmt="table")],
              w=14, h=10,
              transformations=[
                  {"id": "merge", "options": {}},
                  {"id": "organize", "options": {
                      "excludeByName": {"Time": True, "__name__": True, "job": True},
                      "renameByName": {"Value #A": "last update", "Value #B": "busy",
                                       "Value #C": "load", "Value #D": "capacity"}}}],
              overrides=[{"matcher": {"id": "byName", "options": "last update"},
                          "properties": [{"id": "unit", "value": "dateTimeFromNow"}]}],
              options={"showHeader": True, "sortBy": [{"displayName": "host", "desc": False}]}),
        panel("piechart", "Tasks finished today", "Tasks that succeeded, failed or were canceled since "
              "midnight: the increase of the paper's counters over today.",
              [target(f"sum(increase({m('koji_task_succeed_total')}[$__range]))", "succeeded", instant=True),
               target(f"sum(increase({m('koji_task_errors_total')}[$__range]))", "failed", instant=True),
               target(f"sum(increase({m('koji_task_cancellations_total')}[$__range]))", "canceled", instant=True)],
              w=10, h=10, timeFrom="now/d",
              options={"pieType": "pie", "legend": {"displayMode": "table", "placement": "right",
                                                    "values": ["value", "percent"]},
                       "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}),
        series("Waiting and in-progress tasks", "FREE and ASSIGNED tasks (waiting) and OPEN tasks "
               "(in progress).",
               [target(f"sum({m('koji_waiting_tasks')})", "waiting"),
                target(f"sum({m('koji_in_progress_tasks')})", "in progress")], w=24),
        row("Channels and capacity"),
        bars("Enabled hosts per channel", "koji_enabled_hosts_count", m("koji_enabled_hosts_count"),
             "{{channel}}", w=8),
        bars("Capacity per channel", "Sum of the capacity of the channel's enabled hosts.",
             m("koji_enabled_hosts_capacity_per_channel"), "{{channel}}", w=8),
        bars("Load / capacity per channel", "Load of the channel's enabled builders over their capacity "
             "(what KojiChannelNearCapacity compares with its threshold).",
             m("channel:koji_host_task_load:ratio_capacity"), "{{channel}}", unit="percentunit", w=8, maximum=1),
        bars("Load / capacity per enabled builder", "koji_task_load over koji_hosts_capacity per builder.",
             f"{m('koji_task_load')} / on ({per_host}) ({m('koji_hosts_capacity')} > 0)", "{{host}}",
             unit="percentunit", w=12, h=10, maximum=1),
        series("Load and capacity per builder", "The task load each builder reported, with its capacity.",
               [target(m("koji_task_load"), "{{host}} load"),
                target(m("koji_hosts_capacity"), "{{host}} capacity")], w=12, h=10),
        row("Activity"),
        series("Task load", "Sum of the load of every builder, against the capacity of the enabled ones.",
               [target(f"sum({m('koji_task_load')})", "load"),
                target(f"sum({m('koji_hosts_capacity')})", "capacity")], w=8),
        series("Unfinished tasks per channel", "Tasks not finished yet (free, assigned, open, waiting).",
               [target(f"sum by (channel) ({m('koji_tasks_unfinished')})", "{{channel}}")], w=8, stack=True),
        series("Tasks per channel (cumulative)", "Tasks in the database per channel (koji_tasks_total).",
               [target(f"sum by (channel) ({m('koji_tasks_total')})", "{{channel}}")], w=8),
        series("Tasks created per channel", "New tasks per channel in each interval.",
               [target(f"sum by (channel) (increase({m('koji_tasks_total')}[$__rate_interval]))", "{{channel}}")],
               w=12, stack=True),
        series("Tasks finished per method", "Tasks reaching CLOSED, FAILED or CANCELED per second.",
               [target(f"sum by (method) (rate({m('koji_task_completions_total')}[$__rate_interval]))",
                       "{{method}}")], unit="ops", w=12, stack=True),
        row("Exporter"),
        stat("Database reachable", "koji_up of the last scrape (1 = reached).", f"min({m('koji_up')})", w=4),
        stat("Task history ready", "1 once the exporter's pass over the task history finished.",
             f"min({m('koji_exporter_task_history_ready')})", w=4),
        panel("table", "Versions", "Exporter version and the Koji schema level it detected.",
              [target(m("koji_exporter_build_info"), instant=True, fmt="table"),
               target(m("koji_exporter_schema_info"), instant=True, fmt="table")], w=8, h=4,
              transformations=[{"id": "merge", "options": {}},
                               {"id": "organize", "options": {"excludeByName": {
                                   "Time": True, "__name__": True, "job": True, "Value #A": True,
                                   "Value #B": True}}}]),
        stat("Replica lag (provisional)", "How far the replica the exporter reads is behind its primary.",
             f"max({m('koji_exporter_replica_lag_seconds')})", unit="s", w=8),
        series("Collector success", "1 when the family was collected in the scrape.",
               [target(m("koji_exporter_collector_success"), "{{instance}} {{job}} {{collector}}")], w=12, h=6),
        series("Collector duration", "Time spent on each family per scrape.",
               [target(m("koji_exporter_collector_duration_seconds"), "{{instance}} {{job}} {{collector}}")],
               unit="s", w=12, h=6),
    ]
    return dashboard("koji-overview", "Koji / Overview",
                     "Builders, channels, capacity and task activity of a Koji site (the paper's figures 3 to 5).",
                     panels)


def queue():
    ch = 'channel=~"$channel"'
    panels = [
        row("Queue now"),
        series("Waiting tasks per channel", "FREE and ASSIGNED tasks.",
               [target(f"sum by (channel) ({m('koji_waiting_tasks', ch)})", "{{channel}}")], w=8, stack=True),
        series("Unfinished tasks by state", "free, assigned, open (using a builder), waiting (a parent "
               "waiting on subtasks).",
               [target(f"sum by (state) ({m('koji_tasks_unfinished', ch)})", "{{state}}")], w=8, stack=True),
        series("Oldest waiting task age", "Age of the oldest FREE or ASSIGNED task per channel and "
               "architecture (what KojiTasksWaitingTooLong watches, per channel).",
               [target(f"time() - {m('koji_task_oldest_waiting_created_timestamp_seconds', ch)}",
                       "{{channel}} {{arch}}")], unit="s", w=8),
        row("Wait and run times of finished tasks"),
        heatmap("Wait time (creation to start)", "How long finished tasks waited for a builder, per interval.",
                f"sum by (le) (increase({m('koji_task_wait_seconds_bucket', ch)}[$__rate_interval]))"),
        heatmap("Run time (start to completion)", "How long finished tasks ran, per interval.",
                f"sum by (le) (increase({m('koji_task_run_seconds_bucket', ch)}[$__rate_interval]))"),
        series("Wait time quantiles", "Median and 90th percentile of the wait of tasks finished in the "
               "interval (interpolated within histogram buckets).",
               [target(f"histogram_quantile(0.5, sum by (le) (rate({m('koji_task_wait_seconds_bucket', ch)}"
                       "[$__rate_interval])))", "p50"),
                target(f"histogram_quantile(0.9, sum by (le) (rate({m('koji_task_wait_seconds_bucket', ch)}"
                       "[$__rate_interval])))", "p90")], unit="s", w=12),
        series("Mean wait per channel", "Average wait of the tasks finished in the interval.",
               [target(f"sum by (channel) (rate({m('koji_task_wait_seconds_sum', ch)}[$__rate_interval])) / "
                       f"sum by (channel) (rate({m('koji_task_wait_seconds_count', ch)}[$__rate_interval]))",
                       "{{channel}}")], unit="s", w=12),
        row("Outcomes"),
        series("Tasks finished per method", "Per second, by method.",
               [target(f"sum by (method) (rate({m('koji_task_completions_total', ch)}[$__rate_interval]))",
                       "{{method}}")], unit="ops", w=12, stack=True),
        series("Failure ratio per method (30 min)", "Share of each method's tasks finished in the last "
               "30 minutes that failed (what KojiTaskFailureRateHigh compares with its threshold).",
               [target(m("method:koji_task_errors:ratio_rate30m"), "{{method}}")], unit="percentunit", w=12),
        bars("Tasks finished per builder (time range)", "Finished tasks by the builder that held them, "
             "over the dashboard's time range.",
             f"topk(20, sum by (host) (increase({m('koji_host_finished_tasks_total')}[$__range])))",
             "{{host}}", w=12, h=10),
        series("Run time p90 per final state", "90th percentile of the run time of tasks finished in the "
               "interval, by final state.",
               [target(f"histogram_quantile(0.9, sum by (state, le) (rate({m('koji_task_run_seconds_bucket', ch)}"
                       "[$__rate_interval])))", "{{state}}")], unit="s", w=12, h=10),
    ]
    variables = [variable_query("channel", "Channel", 'label_values(koji_channel_capacity{instance=~"$instance"}, channel)')]
    return dashboard("koji-queue", "Koji / Task queue",
                     "Waiting tasks, queue age, wait and run time distributions, outcomes per method.",
                     panels, variables)


def builds():
    day = 'window="1d"'
    panels = [
        row("Builds (provisional: catalog metrics)"),
        series("Builds by state", "Build rows by state (koji_builds).",
               [target(f"sum by (state) ({m('koji_builds')})", "{{state}}")], w=12),
        bars("Builds finished in the last day", "Builds completed in the last 24 hours, by current state.",
             f"sum by (state) ({m('koji_builds_finished', day)})", "{{state}}", w=12),
        row("Tags and packages"),
        bars("Packages per tag (top 20)", "Effective package list of each tag, inheritance included.",
             f"topk(20, {m('koji_packages_per_tag')})", "{{tag}}", w=8, h=12),
        bars("Builds per tag (top 20)", "Builds visible in each tag, inheritance included.",
             f"topk(20, {m('koji_builds_per_tag')})", "{{tag}}", w=8, h=12),
        bars("Builds per package (top 20)", "Build rows of each package, any state.",
             f"topk(20, {m('koji_builds_per_package')})", "{{package}}", w=8, h=12),
        series("Builds tagged directly (top 10 tags)", "Builds tagged into the tag itself, over time.",
               [target(f"topk(10, {m('koji_tag_direct_builds')})", "{{tag}}")], w=24),
    ]
    return dashboard("koji-builds", "Koji / Tags and builds",
                     "Builds by state, packages and builds per tag and per package (catalog family).", panels)


def repos():
    panels = [
        row("Repositories (provisional: catalog metrics)"),
        bars("Oldest newest-ready repos (top 20 tags)", "Per build tag, the age of the tag content in its newest "
             "READY repo (what KojiRepoStale compares with its threshold).",
             f"topk(20, time() - {m('koji_tag_ready_repo_timestamp_seconds')})", "{{tag}}", unit="s", w=12, h=12),
        series("Repos by state", "Repo rows by state.",
               [target(f"sum by (state) ({m('koji_repos')})", "{{state}}")], w=12, h=12),
        series("Repo queue", "Waiting repo requests (Koji 1.35+).",
               [target(f"sum({m('koji_repo_queue_requests')})", "requests")], w=12),
        series("Oldest repo request age", "Age of the oldest waiting repo request.",
               [target(f"time() - {m('koji_repo_queue_oldest_request_timestamp_seconds')}", "{{instance}}")],
               unit="s", w=12),
    ]
    return dashboard("koji-repos", "Koji / Repositories",
                     "kojira's work: how old each build tag's ready repo is, repos by state, the repo queue.",
                     panels)


DASHBOARDS = {"koji-overview.json": overview, "koji-queue.json": queue,
              "koji-builds.json": builds, "koji-repos.json": repos}


def main():
    check = sys.argv[1:] == ["--check"]
    stale = []
    for name, build in DASHBOARDS.items():
        text = json.dumps(build(), indent=2, sort_keys=True) + "\n"
        path = OUT / name
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        sys.exit(f"out of date, run deploy/grafana/generate.py: {', '.join(stale)}")


if __name__ == "__main__":
    main()
