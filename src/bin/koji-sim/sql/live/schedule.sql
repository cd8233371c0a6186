-- schedule.sql: the hub scheduler's pass: up to $1 FREE tasks, by priority then age, are ASSIGNED
-- to a random ready, enabled host of their channel that builds their arch. Tasks no host can take
-- stay FREE and are passed over, so they do not hold back the tasks behind them (the hub's
-- scheduler also looks at every free task, not only at the oldest).
with eligible as (
    select t.id, t.priority,
           (select h.id
            from host h
            join host_config hc on hc.host_id = h.id and hc.active and hc.enabled
            join host_channels m on m.host_id = h.id and m.active and m.channel_id = t.channel_id
            where h.ready and (t.arch = 'noarch' or t.arch = any(string_to_array(hc.arches, ' ')))
            order by random()
            limit 1) as host_id
    from task t
    where t.state = 0
), cand as (
    select id, host_id from eligible where host_id is not null order by priority, id limit $1
)
update task t
set state = 4, host_id = cand.host_id
from cand
where t.id = cand.id and t.state = 0
returning t.id, t.host_id
