-- naive-queries.sql: what a generic SQL exporter would be configured with to get the same
-- numbers as koji-exporter's families: one plain GROUP BY over the whole table per metric,
-- run on every scrape. bench/run.sh measures them next to koji-exporter's own statements, and
-- bench/query-exporter.yaml serves exactly these queries through query-exporter.
--
-- "-- name: <family>.<query>" starts a query; the family tells which koji-exporter family it
-- stands in for.

-- name: hosts.hosts_by_channel
-- enabled hosts, their capacity and load per channel
select c.name as channel, count(*) as hosts, sum(hc.capacity) as capacity, sum(h.task_load) as task_load,
       count(*) filter (where h.ready) as ready
from host h
join host_config hc on hc.host_id = h.id and hc.active
join host_channels m on m.host_id = h.id and m.active
join channels c on c.id = m.channel_id
where hc.enabled
group by c.name

-- name: hosts.open_tasks_by_host
-- running tasks per host, counted over the whole task table
select h.name as host, count(t.id) as open_tasks
from host h
left join task t on t.host_id = h.id and t.state = 1
group by h.name

-- name: tasks.tasks_by_state_method_channel
-- every task ever, by state, method and channel
select t.state, t.method, c.name as channel, count(*) as tasks
from task t join channels c on c.id = t.channel_id
group by t.state, t.method, c.name

-- name: tasks.task_duration_by_method
-- mean run time of finished tasks per method
select method, count(*) as finished, avg(extract(epoch from completion_time - start_time)) as seconds
from task
where state in (2, 5) and start_time is not null
group by method

-- name: catalog.packages_per_tag
-- package list rows per tag, not blocked; plain SQL has no inheritance, so direct rows only
select t.name as tag, count(*) as packages
from tag_packages tp join tag t on t.id = tp.tag_id
where tp.active and not tp.blocked
group by t.name

-- name: catalog.builds_per_tag
-- current taggings of COMPLETE builds per tag, direct only (no inheritance)
select t.name as tag, count(*) as builds
from tag_listing tl
join build b on b.id = tl.build_id
join tag t on t.id = tl.tag_id
where tl.active and b.state = 1
group by t.name

-- name: catalog.builds_per_package
-- build rows of every package, any state
select p.name as package, count(*) as builds
from build b join package p on p.id = b.pkg_id
group by p.name

-- name: catalog.builds_by_state
select state, count(*) as builds
from build
group by state

-- name: catalog.builds_finished_recently
-- builds finished in the last hour, day and week by state (the obvious query is already the
-- cheap one: completion_time is indexed)
select state,
       count(*) filter (where completion_time >= now() - interval '1 hour') as last_hour,
       count(*) filter (where completion_time >= now() - interval '1 day') as last_day,
       count(*) as last_week
from build
where completion_time >= now() - interval '7 days'
group by state

-- name: catalog.repos_by_state
select state, count(*) as repos
from repo
group by state

-- name: catalog.newest_ready_repo
-- per tag, the time of the content of its newest READY non-dist repo
select t.name as tag, extract(epoch from max(e.time)) as newest
from repo r
join events e on e.id = r.create_event
join tag t on t.id = r.tag_id
where r.state = 1 and not coalesce(r.dist, false)
group by t.name

-- name: catalog.repo_queue
-- waiting repo requests and the oldest one (Koji 1.35+)
select count(*) as requests, extract(epoch from min(create_time)) as oldest
from repo_queue
where active
