-- assign_1_34.sql: what the 1.34+ scheduler writes for each assignment ($1 tasks, $2 hosts): a
-- log message, the end of older runs and a new active run; and the pass's time in last_run_ts.
with logged as (
    insert into scheduler_log_messages (task_id, host_id, msg)
    select task_id, host_id, 'Assigning task' from unnest($1::integer[], $2::integer[]) as a(task_id, host_id)
    returning id
),
ended as (
    update scheduler_task_runs set active = false where active and task_id = any($1::integer[]) returning id
),
runs as (
    insert into scheduler_task_runs (task_id, host_id)
    select * from unnest($1::integer[], $2::integer[])
    returning id
)
insert into scheduler_sys_data (name, data) values ('last_run_ts', to_jsonb(extract(epoch from clock_timestamp())::float8))
on conflict (name) do update set data = excluded.data
