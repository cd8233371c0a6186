-- cancel.sql: a user cancels one random unfinished top-level task; the cancel cascades to its
-- unfinished subtasks, its BUILDING build and its INIT repo. Finished tasks are left alone.
with victim as (
    select id from task where state in (0, 1, 4) and parent is null order by random() limit 1
),
t as (
    update task
    set state = 3, completion_time = now(),
        waiting = case when waiting then false else waiting end,
        awaited = case when awaited then false else awaited end
    where state in (0, 1, 4) and (id in (select id from victim) or parent in (select id from victim))
    returning id
),
b as (
    update build set state = 4, completion_time = now()
    where state = 0 and task_id in (select id from victim)
    returning id
),
r as (
    update repo set state = 4 where state = 0 and task_id in (select id from victim) returning id
)
select (select count(*) from t)::int8
