-- finish.sql: the builders' last check-in (load = weights of their OPEN tasks that are not waiting
-- on subtasks; ready unless over capacity, at the job limit or disabled), and every sequence
-- moved past the ids given explicitly.
update host h
set task_load = coalesce(l.load, 0),
    ready = case when s.retired then h.ready
                 else coalesce(l.load, 0) <= c.capacity and coalesce(l.open, 0) < 10 end
from sim_host s
join host_config c on c.host_id = s.h and c.active
left join (select host_id, sum(weight) filter (where waiting is not true) as load, count(*) as open
           from task where state = 1 group by host_id) l on l.host_id = s.h
where s.h = h.id;

do $$
declare
    r record;
begin
    for r in
        select table_name, column_name from information_schema.columns
        where table_schema = 'public' and column_default like 'nextval(%'
    loop
        execute format('select setval(pg_get_serial_sequence(%L, %L), coalesce((select max(%I) from %I), 0) + 1, false)',
                       r.table_name, r.column_name, r.column_name, r.table_name);
    end loop;
end
$$;
