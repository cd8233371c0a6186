-- place.sql: the running work at the end of the history, made to look like what kojihub's
-- scheduler and kojid would have left. A parent waits only while a subtask is unfinished (a
-- parent whose subtasks all finished has been woken and is about to settle). OPEN tasks, then
-- ASSIGNED ones, are placed one by one, by id, on a builder of their channel and arch that is up
-- and has a job slot (fewer than 10 tasks) and room for their weight (waiting parents weigh
-- nothing), keeping the host tasks.sql chose when it has room, else the least loaded one. A task
-- that fits nowhere goes back to the queue (FREE, no host), unless it is a parent with
-- unfinished subtasks, which stays where it is. So no builder ends over its capacity.
update task p set waiting = false
where p.state = 1 and p.waiting
  and not exists (select 1 from task c where c.parent = p.id and c.state in (0, 1, 4));

create temp table sim_room as
select h.id, c.capacity::float8 as capacity, 0::float8 as load, 0 as jobs,
       string_to_array(c.arches, ' ') as arches,
       array(select m.channel_id from host_channels m where m.host_id = h.id and m.active) as channels
from host h
join host_config c on c.host_id = h.id and c.active and c.enabled
join sim_host s on s.h = h.id
where not s.retired;

do $$
declare
    r record;
    best integer;
    w float8;
begin
    for r in
        select t.id, t.state, t.channel_id, t.arch, t.weight, t.waiting is true as waiting, t.host_id,
               exists (select 1 from task c where c.parent = t.id and c.state in (0, 1, 4)) as busy_parent
        from task t where t.state in (1, 4)
        order by t.state, t.id
    loop
        w := case when r.waiting then 0 else r.weight end;
        select m.id into best
        from sim_room m
        where (r.arch = 'noarch' or r.arch = any(m.arches)) and r.channel_id = any(m.channels)
          and m.jobs < 10 and m.capacity - m.load >= w
        order by m.id = r.host_id desc, m.load + m.jobs, m.id
        limit 1;
        if best is null and r.busy_parent then
            best := r.host_id;
        end if;
        if best is null then
            update task set state = 0, host_id = null, start_time = null where id = r.id;
        else
            if best <> r.host_id then
                update task set host_id = best where id = r.id;
            end if;
            update sim_room set load = load + w, jobs = jobs + 1 where id = best;
        end if;
    end loop;
end
$$;
