-- unwait.sql: parents whose subtasks have all finished stop waiting (taskUnwait), or, woken
-- already, settle. A build whose SRPM was just made goes on running (spawn.sql starts its
-- buildArch phase); the others finish:
-- FAILED if a subtask failed or was canceled, CLOSED otherwise. A parent's build becomes COMPLETE
-- or FAILED; a COMPLETE build is tagged into its target's destination tag with a new event.
-- Returns the parents and their new state.
with done as (
    select p.id, bool_or(c.state in (3, 5)) as bad,
           bool_or(c.state in (3, 5)) or p.method <> 'build' or bool_or(c.method = 'buildArch') as final
    from task p
    join task c on c.parent = p.id
    where p.state = 1 and p.parent is null
    group by p.id
    having bool_and(c.state in (2, 3, 5))
    order by p.id
    limit $1
),
kids as (
    update task c set awaited = false from done where c.parent = done.id and c.awaited returning c.id
),
resumed as (
    update task p set waiting = false
    from done
    where p.id = done.id and p.state = 1 and not done.final
    returning p.id
),
par as (
    update task p
    set waiting = false, state = case when done.bad then 5 else 2 end, completion_time = now()
    from done
    where p.id = done.id and p.state = 1 and done.final
    returning p.id, p.state, p.method, p.owner, p.request
),
b as (
    update build
    set state = case when par.state = 2 then 1 else 3 end, completion_time = now()
    from par
    where build.task_id = par.id and build.state = 0 and par.method = 'build'
    returning build.id, build.state, par.owner, par.request
),
tagged as (
    insert into tag_listing (build_id, tag_id, creator_id)
    select b.id, c.dest_tag, b.owner
    from b
    join build_target bt
      on bt.name = substring(b.request from '\.git#[0-9a-f]*</string></value>\s*</param>\s*<param>\s*<value><string>([^<]+)</string>')
    join build_target_config c on c.build_target_id = bt.id and c.active
    where b.state = 1
    returning build_id
)
select par.id, par.state, par.method from par
