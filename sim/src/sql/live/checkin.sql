-- checkin.sql (Koji 1.33+): hosts $1 call host.updateHost: update_time = now(), task_load = the
-- weights of their OPEN tasks that are not waiting, ready unless disabled, over capacity, at the
-- job limit (maxjobs: $4 for hosts $3, else kojid's default 10) or busy for another reason (hosts in $2, e.g. low disk).
-- The call also refreshes the builder's exclusive session.
with l as (
    select host_id, sum(weight) filter (where waiting is not true) as load, count(*) as open
    from task where state = 1 and host_id = any($1::integer[]) group by host_id
),
s as (
    update sessions set update_time = now()
    where exclusive and user_id in (select user_id from host where id = any($1::integer[]))
    returning id
)
update host h
set update_time = now(),
    task_load = coalesce(l.load, 0),
    ready = c.enabled and not (h.id = any($2::integer[])) and coalesce(l.load, 0) <= c.capacity
            and coalesce(l.open, 0)
                < coalesce((select u.m from unnest($3::integer[], $4::integer[]) as u(h, m) where u.h = h.id), 10)
from host_config c
left join l on l.host_id = c.host_id
where c.host_id = h.id and c.active and h.id = any($1::integer[])
returning h.id
