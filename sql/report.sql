-- `koji-exporter report`: the statements only the reports send. The reports also reuse the
-- exporter's own statements (sql/hosts.sql for the hosts now, sql/tasks.sql to read tasks by
-- primary-key range and the non-terminal ones), so /metrics and the reports agree.
--
-- Every statement is bounded by an index: `task` has none on time, so a time window becomes an
-- id range (ids grow with create_time) found with primary-key probes; `build` has
-- build_completion. Only `tags_direct` reads whole tables (the active rows of tag_packages and
-- tag_listing), and it says so.
--
-- Names and other text are selected as convert_to(x, 'SQL_ASCII'): a bytea of the stored
-- bytes, neither converted nor checked, because a SQL_ASCII database may hold bytes that are
-- not UTF-8 (src/lossy.rs decodes them, bad bytes becoming U+FFFD). This changes no plan.

-- name: task_id_bounds
-- The lowest and highest task id. min() and max() of the primary key read one end of the index
-- each, whatever the size of the table.
select min(id) as min_id, max(id) as max_id from task

-- name: task_at_or_after
-- The first task with an id of at least $1, with its creation time: one primary-key probe
-- (index scan, limit 1). The report binary-searches the id range of a time window with about
-- log2(number of tasks) of these, ~25 for 10^7 tasks.
select id, extract(epoch from create_time)::float8 as create_time
from task
where id >= $1
order by id
limit 1

-- name: builds_completed
-- Builds that finished in the window [$1, $2) (Unix seconds), through the build_completion
-- index, with the owner's name (users primary key) and, for builds made by a task, that task's
-- method and request (task primary key), from which the report reads the build target.
-- BUILDING builds have no completion_time and are not in the window.
select
    b.id,
    b.state,
    convert_to(u.name, 'SQL_ASCII') as owner,
    b.task_id,
    convert_to(t.method, 'SQL_ASCII') as method,
    convert_to(t.request, 'SQL_ASCII') as request
from build b
join users u on u.id = b.owner
left join task t on t.id = b.task_id
where b.completion_time >= to_timestamp($1) and b.completion_time < to_timestamp($2)

-- name: tags_direct
-- The $1 biggest live tags (active tag_config row) by DIRECT content: active, unblocked
-- tag_packages rows, and active tag_listing rows of COMPLETE builds; inheritance is not
-- followed. Cost: one pass over the active rows of tag_packages (tag_packages_active_tag_id)
-- and of tag_listing joined to build by primary key, aggregated per tag; tag and tag_config are
-- small. On a large hub this is the most expensive report statement (seconds, not minutes).
with packages as (
    select tag_id,
           count(*) filter (where not blocked) as packages,
           count(*) filter (where blocked) as blocked
    from tag_packages
    where active
    group by tag_id
), builds as (
    select l.tag_id, count(*) as builds
    from tag_listing l
    join build b on b.id = l.build_id
    where l.active and b.state = 1
    group by l.tag_id
)
select
    convert_to(t.name, 'SQL_ASCII') as name,
    coalesce(p.packages, 0)::int8 as packages,
    coalesce(p.blocked, 0)::int8 as blocked,
    coalesce(bl.builds, 0)::int8 as builds,
    count(*) over ()::int8 as live_tags
from tag t
join tag_config c on c.tag_id = t.id and c.active
left join packages p on p.tag_id = t.id
left join builds bl on bl.tag_id = t.id
order by builds desc, packages desc, t.name
limit $1
