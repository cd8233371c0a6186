-- The tasks family: queue gauges every scrape, and counters over the whole task history kept
-- up to date incrementally (src/collect/tasks/).
--
-- `task` holds 10^7-10^8 rows and has no index on time, channel or method. A scrape therefore
-- reads only what an index makes cheap: the non-terminal tasks through task_by_state, the tasks
-- created since the last scrape through the primary key, and a short list of ids through the
-- primary key. The whole history is read once at start-up and on the (rare) reconciliation,
-- outside any scrape, by the history_* statements at the end: the server adds up the finished
-- tasks (history_totals), and only what needs Rust is sent (the requests of tag-bearing
-- top-level tasks, the unfinished tasks, the ids near the top). Every statement that returns
-- tasks returns the same columns, decoded into one row type, which `koji-exporter report`
-- reads too (it needs `weight` for the capacity report).
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

-- The full pass over the history (src/collect/tasks/history.rs), in one REPEATABLE READ
-- snapshot, outside any scrape.

-- name: history_work_mem
-- Memory for the hash tables of history_totals ($1, e.g. '64MB'), local to the pass's
-- transaction: the tag map it joins has one entry per tag-bearing top-level task.
select set_config('work_mem', $1, true)

-- name: history_no_jit
-- No JIT compilation for the pass's transaction: compiling history_totals' expressions costs
-- seconds, more than it saves on a scan that is mostly reading.
select set_config('jit', 'off', true)

-- name: history_newest
-- The newest task and its create time: one probe at the end of the primary key.
select id, extract(epoch from create_time)::float8 as create_time
from task
where id > 0
order by id desc
limit 1

-- name: history_pages
-- The heap pages of `task` now (at least as many as the pass's snapshot needs): the pass reads
-- the tag-bearing top-level tasks one range of pages at a time.
select (pg_relation_size('task') / current_setting('block_size')::int8)::int8 as pages

-- name: history_roots
-- Top-level tasks of the methods whose request names a tag or target ($1) in the heap pages
-- from $2 to before $3 (tids as text, '(page,0)'): a TID range scan, a slice of a sequential
-- scan, so that the batches together read the table once whatever its size, and a batch holds
-- only that slice's requests. Only these requests are fetched (and detoasted) by the pass;
-- the times and the arch, which attribution does not read, are left out (their conversion
-- would cost more than the rest).
select id, state, channel_id, host_id, parent, waiting, weight,
       convert_to(method, 'SQL_ASCII') as method, ''::bytea as arch,
       0::float8 as create_time, null::float8 as start_time, null::float8 as completion_time,
       convert_to(request, 'SQL_ASCII') as request
from task
where ctid >= $2::text::tid and ctid < $3::text::tid and parent is null and method = any($1)

-- name: history_parents
-- Every task that has subtasks: the distinct values of `parent`, as one array. The unique
-- (parent, label) index holds them (an index-only scan where the visibility map allows).
select coalesce(array_agg(parent), '{}') as parents
from (select distinct parent from task where parent is not null) as p

-- name: history_links
-- The parents of some tasks ($1, ids): primary-key look-ups, to follow subtasks of subtasks up
-- to their top-level task.
select id, parent from task where id = any($1)

-- name: history_unfinished
-- Tasks that are not terminal (FREE, OPEN, ASSIGNED, a state code Koji does not define, or
-- none), which the engine tracks one by one. Through task_by_state (a bitmap OR of ranges).
select id, state, channel_id, host_id, parent, waiting, weight,
       convert_to(method, 'SQL_ASCII') as method, convert_to(arch, 'SQL_ASCII') as arch,
       extract(epoch from create_time)::float8 as create_time,
       extract(epoch from start_time)::float8 as start_time,
       extract(epoch from completion_time)::float8 as completion_time,
       convert_to(case when parent is null and method = any($1) then request end, 'SQL_ASCII') as request
from task
where id > 0 and (state is null or state < 2 or state = 4 or state > 5)

-- name: history_ids_near_top
-- The ids above $1 (the highest id less the stretch in which missing ids are watched): a
-- primary-key range, to tell which ids near the top are missing.
select id from task where id > $1 order by id

-- name: history_totals
-- What the finished (CLOSED 2, CANCELED 3, FAILED 5) tasks add to the counters and histograms,
-- added up by the server in one sequential scan: tasks by (tag, channel, method, state) with
-- their wait and run times bucketed (w0..w13: tasks per wait bucket, r0..r12 per run bucket,
-- the last one +Inf; the sums of both). The buckets are columns rather than grouping keys so
-- that the planner, which cannot know how few combinations occur, still estimates few groups
-- and hashes them instead of sorting the table. Each `offset 0` keeps its step a step of its
-- own: inlined, the time differences would be computed again in every bucket's filter, ten
-- times the cost of the scan.
-- $1/$2: task ids and the index of their tag, for the tag-bearing top-level tasks and the
-- subtasks that have subtasks of their own, each with its top-level task's tag; a subtask takes
-- its parent's entry, a top-level task its own, and no entry means no tag. $3/$4: the wait and
-- run bucket bounds of aggregate.rs, negated and in reverse order, so that
-- `cardinality - width_bucket(-x, ...)` is the index of the first bound >= x (a value on a
-- bound falls in that bucket, as in aggregate.rs). Times as aggregate.rs takes them: epoch
-- seconds as float8, the difference clamped at 0 (NaN, from two infinite times, gives 0 too).
-- date_part('epoch', x) is the float8 the other statements get from extract(epoch from
-- x)::float8 (both round the exact microseconds once, for any time within 285 years of 1970)
-- at a quarter of the cost: extract computes in numeric, which was most of this scan's time.
with finished as (
    select t.channel_id, t.method, t.state, m.tag,
           date_part('epoch', t.start_time) - date_part('epoch', t.create_time) as wait,
           date_part('epoch', t.completion_time) - date_part('epoch', t.start_time) as run
    from task t
    left join unnest($1::int4[], $2::int4[]) as m(id, tag) on m.id = coalesce(t.parent, t.id)
    where t.id > 0 and t.state in (2, 3, 5)
    offset 0
), clamped as (
    select channel_id, method, state, tag,
           case when wait is null then null when wait > 0 and wait <> 'NaN'::float8 then wait else 0 end as wait,
           case when run is null then null when run > 0 and run <> 'NaN'::float8 then run else 0 end as run
    from finished
    offset 0
), bucketed as (
    select clamped.*,
           cardinality($3::float8[]) - width_bucket(-wait, $3::float8[]) as wait_bucket,
           cardinality($4::float8[]) - width_bucket(-run, $4::float8[]) as run_bucket
    from clamped
    offset 0
)
select tag, channel_id, convert_to(method, 'SQL_ASCII') as method, state, count(*) as tasks,
       sum(wait) as wait_seconds, sum(run) as run_seconds,
       count(*) filter (where wait_bucket = 0) as w0, count(*) filter (where wait_bucket = 1) as w1, count(*) filter (where wait_bucket = 2) as w2,
       count(*) filter (where wait_bucket = 3) as w3, count(*) filter (where wait_bucket = 4) as w4, count(*) filter (where wait_bucket = 5) as w5,
       count(*) filter (where wait_bucket = 6) as w6, count(*) filter (where wait_bucket = 7) as w7, count(*) filter (where wait_bucket = 8) as w8,
       count(*) filter (where wait_bucket = 9) as w9, count(*) filter (where wait_bucket = 10) as w10, count(*) filter (where wait_bucket = 11) as w11,
       count(*) filter (where wait_bucket = 12) as w12, count(*) filter (where wait_bucket = 13) as w13,
       count(*) filter (where run_bucket = 0) as r0, count(*) filter (where run_bucket = 1) as r1, count(*) filter (where run_bucket = 2) as r2,
       count(*) filter (where run_bucket = 3) as r3, count(*) filter (where run_bucket = 4) as r4, count(*) filter (where run_bucket = 5) as r5,
       count(*) filter (where run_bucket = 6) as r6, count(*) filter (where run_bucket = 7) as r7, count(*) filter (where run_bucket = 8) as r8,
       count(*) filter (where run_bucket = 9) as r9, count(*) filter (where run_bucket = 10) as r10, count(*) filter (where run_bucket = 11) as r11,
       count(*) filter (where run_bucket = 12) as r12
from bucketed
group by tag, channel_id, method, state

-- name: history_hosts
-- Finished tasks by (host, final state), in one sequential scan.
select host_id, state, count(*) as tasks
from task
where id > 0 and state in (2, 3, 5) and host_id is not null
group by host_id, state
