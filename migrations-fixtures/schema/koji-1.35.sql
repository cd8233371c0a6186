-- koji-1.35.sql: changes from Koji 1.34 to Koji 1.35 ("repos on demand").
--
-- Apply after koji-1.34.sql, once, inside a single transaction.


-- ---------------------------------------------------------------------------
-- Repo bookkeeping
-- ---------------------------------------------------------------------------

-- when the repo row was made, and when its state last changed
alter table repo add column creation_time timestamptz default now();
alter table repo add column state_time timestamptz default now();
-- range of events over which the tag content equals the repo's content
alter table repo add column begin_event integer references events (id);
alter table repo add column end_event integer references events (id);
-- generation options actually used, and the ones explicitly requested
alter table repo add column opts jsonb;
alter table repo add column custom_opts jsonb;


-- ---------------------------------------------------------------------------
-- Repo request queue
-- ---------------------------------------------------------------------------

-- requests for a (re)generated repo of a tag; the active rows are the queue
create table repo_queue (
    id serial primary key,
    create_time timestamptz not null default now(),
    owner integer not null references users (id),
    priority integer not null,
    tag_id integer not null references tag (id),
    at_event integer references events (id),
    min_event integer references events (id),
    opts jsonb not null,
    update_time timestamptz not null default now(),
    active boolean not null default true,
    task_id integer references task (id),
    tries integer not null default 0,
    repo_id integer references repo (id),
    -- either an exact event or a lower bound, not both
    constraint only_one_event check (at_event is null or min_event is null),
    -- a request still in the queue has not been fulfilled by a repo yet
    constraint active_sane check (active is false or repo_id is null)
);

-- lock target used while working the queue
insert into locks (name) values ('repo-queue');
