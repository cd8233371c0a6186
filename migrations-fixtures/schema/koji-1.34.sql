-- koji-1.34.sql: changes from Koji 1.33 to Koji 1.34.
--
-- Apply after koji-1.33.sql, once, inside a single transaction.
-- Brings the hub-side task scheduler tables and draft builds. The rpminfo
-- side of draft builds is not part of this subset.


-- ---------------------------------------------------------------------------
-- Scheduler
-- ---------------------------------------------------------------------------

-- each assignment of a task to a host by the scheduler; active marks the
-- current one
create table scheduler_task_runs (
    id serial primary key,
    task_id integer not null references task (id),
    host_id integer not null references host (id),
    active boolean not null default true,
    create_time timestamptz not null default now()
);

create index scheduler_task_runs_task on scheduler_task_runs (task_id);
create index scheduler_task_runs_host on scheduler_task_runs (host_id);
create index scheduler_task_runs_create_time on scheduler_task_runs (create_time);

-- JSON blob reported by each builder (handler methods, maxjobs, ...)
create table scheduler_host_data (
    host_id integer primary key references host (id),
    data jsonb
);

-- scheduler's own key/value state (e.g. when it last ran)
create table scheduler_sys_data (
    name text primary key,
    data jsonb
);

-- hosts that declined (or cannot take) a task; soft refusals expire
create table scheduler_task_refusals (
    id serial primary key,
    task_id integer not null references task (id),
    host_id integer not null references host (id),
    by_host boolean not null,
    soft boolean not null default false,
    msg text,
    time timestamptz not null default now(),
    unique (task_id, host_id)
);

-- log of scheduler decisions
create table scheduler_log_messages (
    id serial primary key,
    task_id integer references task (id),
    host_id integer references host (id),
    msg_time timestamptz not null default now(),
    msg text not null
);

-- lock target used by the scheduler pass
insert into locks (name) values ('scheduler');


-- ---------------------------------------------------------------------------
-- Draft builds
-- ---------------------------------------------------------------------------

alter table build add column draft boolean not null default false;
alter table build add column promotion_time timestamptz;
alter table build add column promoter integer references users (id);

-- (id, draft) is unique anyway; the constraint exists so that other tables
-- can reference the pair
alter table build add constraint draft_for_rpminfo unique (id, draft);

-- a build that is still a draft cannot have been promoted
alter table build add constraint promotion_sane check (
    draft is false or (promotion_time is null and promoter is null));

-- a draft build's release ends with ",draft_<build id>"
alter table build add constraint draft_release_sane check (
    draft is false
    or right(release, length(',draft_' || id::text)) = ',draft_' || id::text);
