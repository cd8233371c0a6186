-- open.sql: what the builders $1 (online and not busy) know when they look for work: their ASSIGNED
-- tasks by priority then age, with the load of their OPEN tasks that are not waiting and how
-- many OPEN tasks they run (kojid's readyForTask looks at both before it takes a task).
select t.host_id, t.id, t.weight,
       (select coalesce(sum(o.weight) filter (where o.waiting is not true), 0)::float8
        from task o where o.host_id = t.host_id and o.state = 1) as load,
       (select count(*) from task o where o.host_id = t.host_id and o.state = 1)::int8 as open,
       c.capacity
from task t
join host_config c on c.host_id = t.host_id and c.active
where t.state = 4 and t.host_id = any($1::integer[])
order by t.host_id, t.priority, t.create_time, t.id
