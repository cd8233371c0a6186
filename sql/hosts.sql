-- The hosts family: builders, their channels and how loaded they are.
--
-- Every statement here reads small tables (one row per host, channel or membership, plus the
-- history of those) or the OPEN tasks through the task_by_state index, so a scrape costs the
-- same on a Koji with 10^3 or 10^8 tasks. All run in one read-only REPEATABLE READ transaction,
-- so the numbers of one scrape agree with each other.
--
-- Names and other text that ends up in label values are selected as
-- convert_to(x, 'SQL_ASCII'): a bytea of the stored bytes, neither converted nor checked,
-- because a SQL_ASCII database may hold bytes that are not UTF-8 (src/lossy.rs decodes them).

-- name: hosts
-- Each host with its current configuration. host_config is versioned: the current row is the
-- one with active = true (revoked rows have active NULL). A host without a current row is odd
-- data; the left join keeps it visible (as disabled, capacity unknown) instead of dropping it.
select
    h.id,
    convert_to(h.name, 'SQL_ASCII') as name,
    h.ready,
    h.task_load,
    coalesce(hc.enabled, false) as enabled,
    hc.capacity,
    convert_to(hc.arches, 'SQL_ASCII') as arches
from host h
left join host_config hc on hc.host_id = h.id and hc.active
order by h.name

-- name: host_update_times
-- Koji 1.33+: the time of the builder's last check-in (host.updateHost), NULL if it has not
-- checked in since the upgrade.
select id, extract(epoch from update_time)::float8 as update_time
from host
where update_time is not null

-- name: host_session_activity
-- The newest session activity of each listed host's user, as the hub's getLastHostUpdate reads
-- it. Used where host.update_time is missing. One probe per host through the unique
-- (user_id, exclusive) index, never a scan of the whole sessions table.
select h.id, extract(epoch from s.update_time)::float8 as update_time
from host h
cross join lateral (
    select update_time from sessions
    where user_id = h.user_id
    order by update_time desc
    limit 1
) s
where h.id = any($1)

-- name: host_channels
-- Current channel memberships (host_channels is versioned: active rows only).
select hc.host_id, convert_to(c.name, 'SQL_ASCII') as channel
from host_channels hc
join channels c on c.id = hc.channel_id
where hc.active

-- name: channels
-- Every channel, including those without hosts (Koji 1.26+ has channels.enabled).
select convert_to(name, 'SQL_ASCII') as name, enabled from channels order by name

-- name: channels_before_1_26
-- The same for schemas without channels.enabled.
select convert_to(name, 'SQL_ASCII') as name, null::boolean as enabled from channels order by name

-- name: host_open_tasks
-- OPEN tasks held by each host, through the task_by_state index (the OPEN set is small).
-- open_tasks counts every task the builder has a process for (kojid compares it with maxjobs);
-- running_tasks leaves out parents waiting on subtasks (they use no builder capacity).
select
    host_id,
    count(*)::int8 as open_tasks,
    (count(*) filter (where waiting is not true))::int8 as running_tasks
from task
where state = 1 and host_id is not null
group by host_id

-- name: host_max_jobs
-- Koji 1.34+: the job limit a builder reported (scheduler_host_data.data->'maxjobs'), as text;
-- the exporter parses it and ignores values that are not a non-negative number.
select host_id, convert_to(data ->> 'maxjobs', 'SQL_ASCII') as max_jobs
from scheduler_host_data
where data ? 'maxjobs'
