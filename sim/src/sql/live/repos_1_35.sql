-- repos_1_35.sql: 1.35 bookkeeping for repos $1 that changed state, and the queue requests of
-- their tags that a new READY repo satisfies.
with t as (
    update repo set state_time = now(), begin_event = coalesce(begin_event, create_event)
    where id = any($1::integer[])
    returning id
)
update repo_queue q
set active = false, repo_id = r.id, update_time = now()
from repo r
where r.id = any($1::integer[]) and r.state = 1 and q.tag_id = r.tag_id and q.active
returning q.id
