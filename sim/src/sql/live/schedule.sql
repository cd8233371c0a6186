-- schedule.sql: what the hub scheduler's pass reads (kojihub/scheduler.py): the enabled hosts with
-- their ready flag, capacity, arches, enabled channels, the load and number of their ASSIGNED and
-- OPEN tasks (waiting parents add no load but take a job slot). Job limits come from live.rs.
select h.id, h.ready, c.capacity, c.arches,
       coalesce(sum(t.weight) filter (where t.waiting is not true), 0)::float8 as load,
       count(t.id)::int8 as tasks,
       array(select m.channel_id from host_channels m join channels ch on ch.id = m.channel_id
             where m.host_id = h.id and m.active and ch.enabled) as channels
from host h
join host_config c on c.host_id = h.id and c.active and c.enabled
left join task t on t.host_id = h.id and t.state in (1, 4)
group by h.id, h.ready, c.capacity, c.arches
order by h.id
