-- The tasks family: queue gauges every scrape, and counters over the whole task history kept
-- up to date incrementally (src/collect/tasks/).
--
-- `task` holds 10^7-10^8 rows and has no index on time, channel or method. A scrape therefore
-- reads only what an index makes cheap: the non-terminal tasks through task_by_state, the tasks
-- created since the last scrape through the primary key, and a short list of ids through the
-- primary key. The whole history is read once at start-up and on the (rare) reconciliation,
-- outside any scrape, in primary-key batches of created_after. Every statement returns the same columns, decoded into one row type, which
-- `koji-exporter report` reads too (it needs `weight` for the capacity report).
-- $1 is the list of methods whose request names a tag or target: only for those top-level
-- tasks is the (TOASTed) request column fetched.
--
-- Names and other text that ends up in label values are selected as
-- convert_to(x, 'SQL_ASCII'): a bytea of the stored bytes, neither converted nor checked,
-- because a SQL_ASCII database may hold bytes that are not UTF-8 (src/lossy.rs decodes them).

-- name: nonterminal
-- FREE (0), OPEN (1) and ASSIGNED (4) tasks, through the task_by_state index.
select id, state, channel_id, host_id, parent, waiting, weight,
       convert_to(method, 'SQL_ASCII') as method, convert_to(arch, 'SQL_ASCII') as arch,
       extract(epoch from create_time)::float8 as create_time,
       extract(epoch from start_time)::float8 as start_time,
       extract(epoch from completion_time)::float8 as completion_time,
       convert_to(case when parent is null and method = any($1) then request end, 'SQL_ASCII') as request
from task
where state in (0, 1, 4)

-- name: created_after
-- Tasks with ids above the last one seen ($2), oldest first, at most $3 of them: a range
-- scan of the primary key that reads only what is new.
select id, state, channel_id, host_id, parent, waiting, weight,
       convert_to(method, 'SQL_ASCII') as method, convert_to(arch, 'SQL_ASCII') as arch,
       extract(epoch from create_time)::float8 as create_time,
       extract(epoch from start_time)::float8 as start_time,
       extract(epoch from completion_time)::float8 as completion_time,
       convert_to(case when parent is null and method = any($1) then request end, 'SQL_ASCII') as request
from task
where id > $2
order by id
limit $3

-- name: by_id
-- Specific tasks ($2): those that were not terminal at the last scrape, ids not yet visible
-- (transactions that commit out of id order), and parents of new subtasks. Primary key look-ups.
select id, state, channel_id, host_id, parent, waiting, weight,
       convert_to(method, 'SQL_ASCII') as method, convert_to(arch, 'SQL_ASCII') as arch,
       extract(epoch from create_time)::float8 as create_time,
       extract(epoch from start_time)::float8 as start_time,
       extract(epoch from completion_time)::float8 as completion_time,
       convert_to(case when parent is null and method = any($1) then request end, 'SQL_ASCII') as request
from task
where id = any($2)

-- name: id_probe
-- Whether task ids were handed out again (a restore from backup, a failover to a lagging
-- replica): the highest id, and the create time of the task with id $1 (the newest one the
-- engine counted). Two primary-key probes.
select (select max(id) from task) as max_id,
       (select extract(epoch from create_time)::float8 from task where id = $1) as created

-- name: channel_names
select id, convert_to(name, 'SQL_ASCII') as name from channels

-- name: host_names
select id, convert_to(name, 'SQL_ASCII') as name from host

-- name: tag_names
-- Names of the live tags (a current tag_config row) among the ids a request named ($1):
-- probes of the tag primary key and of tag_config's unique (tag_id, active).
select t.id, convert_to(t.name, 'SQL_ASCII') as name
from tag t
where t.id = any($1) and exists (select 1 from tag_config c where c.tag_id = t.id and c.active)

-- name: target_destinations
-- Each build target with the destination tag of its current configuration, or of its newest
-- revoked one for a deleted target (build_target_config is versioned; both tables are small).
-- `live` says whether that tag exists (a current tag_config row).
select distinct on (bt.id) convert_to(bt.name, 'SQL_ASCII') as target, convert_to(t.name, 'SQL_ASCII') as dest_tag,
       exists (select 1 from tag_config tc where tc.tag_id = t.id and tc.active) as live
from build_target bt
join build_target_config c on c.build_target_id = bt.id
join tag t on t.id = c.dest_tag
order by bt.id, c.active nulls last, c.create_event desc

-- name: live_tag_names
-- Which of the tag names a request named ($1) are live tags: probes of the unique index on
-- tag.name and of tag_config's unique (tag_id, active). Names not returned are not live.
select convert_to(t.name, 'SQL_ASCII') as name
from tag t
where t.name = any($1) and exists (select 1 from tag_config c where c.tag_id = t.id and c.active)
