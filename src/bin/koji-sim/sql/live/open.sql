-- open.sql: builders open (start) up to $1 tasks assigned to them; hosts in $2 are offline and
-- open nothing.
update task
set state = 1, start_time = now()
where id in (
    select id from task
    where state = 4 and not (host_id = any($2::integer[]))
    order by id
    limit $1
)
and state = 4
returning id
