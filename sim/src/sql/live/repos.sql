-- repos.sql: the repos of finished newRepo tasks $1: READY when the task closed (the tag's
-- previous READY repo becomes EXPIRED), PROBLEM otherwise. Returns the repos that changed.
with done as (
    select r.id, r.tag_id, t.state as task_state
    from repo r join task t on t.id = r.task_id
    where r.task_id = any($1::integer[]) and r.state = 0
),
expired as (
    update repo o set state = 2
    from done
    where done.task_state = 2 and o.tag_id = done.tag_id and o.state = 1 and o.id <> done.id
    returning o.id
),
settled as (
    update repo r set state = case when done.task_state = 2 then 1 else 4 end
    from done where r.id = done.id
    returning r.id
)
select id from settled union all select id from expired
