-- koji-1.32.sql: base layer of the hand-written Koji schema subset.
--
-- Mirrors the shape of these tables in a Koji 1.32 hub database, restricted to
-- what koji-exporter reads plus whatever its foreign keys need. Later layers
-- (koji-1.33.sql, koji-1.34.sql, koji-1.35.sql) add only the upgrade deltas.
--
-- Apply once, onto an empty database, inside a single transaction.
--
-- Conventions used by Koji that show up below:
--   * state/type columns are plain integers; their meaning lives in the hub's
--     Python code (no lookup tables, no checks on the values);
--   * "versioned" tables never update a row in place except to revoke it.
--     Each row version carries create_event / revoke_event / creator_id /
--     revoker_id / active, where active is TRUE for the current version and
--     NULL for revoked ones (never FALSE). Including active in an ordinary
--     UNIQUE constraint therefore allows one current row per key and any
--     number of revoked ones.


-- ---------------------------------------------------------------------------
-- Events: the global logical clock that versioned rows point at.
-- ---------------------------------------------------------------------------

create table events (
    id serial primary key,
    time timestamptz not null default clock_timestamp()
);

-- allocate a fresh event and hand back its id (used as a column default)
create function get_event() returns integer
language sql volatile
as $$
    insert into events default values returning id;
$$;

-- wall-clock time at which a given event was allocated
create function get_event_time(integer) returns timestamptz
language sql stable
as $$
    select time from events where id = $1;
$$;


-- ---------------------------------------------------------------------------
-- Accounts and logins
-- ---------------------------------------------------------------------------

-- named permissions (admin, build, repo, ...); tags may require one
create table permissions (
    id serial primary key,
    name text not null unique,
    description text
);

-- every account: people (usertype 0), build hosts (1) and groups (2);
-- status 0 = normal, 1 = blocked
create table users (
    id serial primary key,
    name varchar(255) not null unique,
    password varchar(255),
    status integer not null,
    usertype integer not null
);

-- login sessions; subsessions point at their top-level session via master.
-- A builder daemon holds the one exclusive session of its host account.
create table sessions (
    id serial primary key,
    user_id integer not null references users (id),
    expired boolean not null default false,
    master integer references sessions (id),
    key varchar(255),
    authtype integer,
    hostip varchar(255),
    callnum integer,
    start_time timestamptz not null default now(),
    update_time timestamptz not null default now(),
    -- exclusive is either TRUE or NULL, so that the unique constraint below
    -- permits only one exclusive session per user
    exclusive boolean check (exclusive),
    closed boolean not null default false,
    -- a subsession is never exclusive
    constraint no_exclusive_subsessions check (master is null or exclusive is null),
    -- once closed, a session must have given up exclusivity
    constraint no_closed_exclusive check (closed is false or exclusive is null),
    unique (user_id, exclusive)
);

create index sessions_master on sessions (master);
create index sessions_active_and_recent on sessions (expired, master, update_time)
    where expired = false and master is null;
create index sessions_expired on sessions (expired);


-- ---------------------------------------------------------------------------
-- Channels and build hosts
-- ---------------------------------------------------------------------------

-- task channels (default, createrepo, ...); hosts subscribe to them
create table channels (
    id serial primary key,
    name varchar(128) not null unique,
    description text,
    enabled boolean not null default true,
    comment text
);

-- one row per builder; the unversioned, frequently rewritten part of a host
-- (the builder reports task_load and ready on every check-in)
create table host (
    id serial primary key,
    user_id integer not null references users (id),
    name varchar(128) not null unique,
    task_load float not null default 0.0 check (task_load >= 0),
    ready boolean not null default false
);

-- versioned host settings: arches (space separated), capacity, enabled, ...
create table host_config (
    host_id integer not null references host (id),
    arches text,
    capacity float not null default 2.0 check (capacity > 1),
    description text,
    comment text,
    enabled boolean not null default true,
    -- versioning
    create_event integer not null references events (id) default get_event(),
    revoke_event integer references events (id),
    creator_id integer not null references users (id),
    revoker_id integer references users (id),
    active boolean default true check (active),
    constraint active_revoke_sane check (
        (active is not null and revoke_event is null and revoker_id is null)
        or (active is null and revoke_event is not null and revoker_id is not null)),
    primary key (create_event, host_id),
    unique (host_id, active)
);

create index host_config_by_active_and_enabled on host_config (active, enabled);

-- versioned channel membership of hosts
create table host_channels (
    host_id integer not null references host (id),
    channel_id integer not null references channels (id),
    -- versioning
    create_event integer not null references events (id) default get_event(),
    revoke_event integer references events (id),
    creator_id integer not null references users (id),
    revoker_id integer references users (id),
    active boolean default true check (active),
    constraint active_revoke_sane check (
        (active is not null and revoke_event is null and revoker_id is null)
        or (active is null and revoke_event is not null and revoker_id is not null)),
    primary key (create_event, host_id, channel_id),
    unique (host_id, channel_id, active)
);


-- ---------------------------------------------------------------------------
-- Tasks
-- ---------------------------------------------------------------------------

-- units of work handed to builders. state: 0 FREE, 1 OPEN, 2 CLOSED,
-- 3 CANCELED, 4 ASSIGNED, 5 FAILED. Subtasks point at their parent.
create table task (
    id serial primary key,
    state integer,
    create_time timestamptz not null default now(),
    start_time timestamptz,
    completion_time timestamptz,
    channel_id integer not null references channels (id),
    host_id integer references host (id),
    parent integer references task (id),
    label varchar(255),
    waiting boolean,
    awaited boolean,
    owner integer not null references users (id),
    method text,
    request text,
    result text,
    eta integer,
    arch varchar(16) not null,
    priority integer,
    weight float not null default 1.0 check (weight >= 0),
    -- only subtasks may carry a label
    constraint parent_label_sane check (parent is not null or label is null),
    -- labels are unique among siblings; the index also serves "children of"
    unique (parent, label)
);

create index task_by_state on task (state);
create index task_by_host on task (host_id);
create index task_by_no_parent_state_method on task (parent, state, method)
    where parent is null;


-- ---------------------------------------------------------------------------
-- Tags, packages, targets
-- ---------------------------------------------------------------------------

-- tag names; a tag exists while it has an active tag_config row
create table tag (
    id serial primary key,
    name text not null unique
);

-- versioned tag settings; revoking the active row deletes the tag
create table tag_config (
    tag_id integer not null references tag (id),
    arches text,
    perm_id integer references permissions (id),
    locked boolean not null default false,
    maven_support boolean not null default false,
    maven_include_all boolean not null default false,
    -- versioning
    create_event integer not null references events (id) default get_event(),
    revoke_event integer references events (id),
    creator_id integer not null references users (id),
    revoker_id integer references users (id),
    active boolean default true check (active),
    constraint active_revoke_sane check (
        (active is not null and revoke_event is null and revoker_id is null)
        or (active is null and revoke_event is not null and revoker_id is not null)),
    primary key (create_event, tag_id),
    unique (tag_id, active)
);

-- versioned parent links between tags (lower priority is searched first)
create table tag_inheritance (
    tag_id integer not null references tag (id),
    parent_id integer not null references tag (id),
    priority integer not null,
    maxdepth integer,
    intransitive boolean not null default false,
    noconfig boolean not null default false,
    pkg_filter text,
    -- versioning
    create_event integer not null references events (id) default get_event(),
    revoke_event integer references events (id),
    creator_id integer not null references users (id),
    revoker_id integer references users (id),
    active boolean default true check (active),
    constraint active_revoke_sane check (
        (active is not null and revoke_event is null and revoker_id is null)
        or (active is null and revoke_event is not null and revoker_id is not null)),
    primary key (create_event, tag_id, priority),
    unique (tag_id, priority, active),
    unique (tag_id, parent_id, active)
);

create index tag_inheritance_by_parent on tag_inheritance (parent_id);

-- versioned free-form key/value settings of a tag
create table tag_extra (
    tag_id integer not null references tag (id),
    key text not null,
    value text,
    -- versioning
    create_event integer not null references events (id) default get_event(),
    revoke_event integer references events (id),
    creator_id integer not null references users (id),
    revoker_id integer references users (id),
    active boolean default true check (active),
    constraint active_revoke_sane check (
        (active is not null and revoke_event is null and revoker_id is null)
        or (active is null and revoke_event is not null and revoker_id is not null)),
    primary key (create_event, tag_id, key),
    unique (tag_id, key, active)
);

-- source package names
create table package (
    id serial primary key,
    name text not null unique
);

-- versioned package lists of tags (blocked = explicitly excluded)
create table tag_packages (
    package_id integer not null references package (id),
    tag_id integer not null references tag (id),
    blocked boolean not null default false,
    extra_arches text,
    -- versioning
    create_event integer not null references events (id) default get_event(),
    revoke_event integer references events (id),
    creator_id integer not null references users (id),
    revoker_id integer references users (id),
    active boolean default true check (active),
    constraint active_revoke_sane check (
        (active is not null and revoke_event is null and revoker_id is null)
        or (active is null and revoke_event is not null and revoker_id is not null)),
    primary key (create_event, package_id, tag_id),
    unique (package_id, tag_id, active)
);

create index tag_packages_active_tag_id on tag_packages (active, tag_id);
create index tag_packages_create_event on tag_packages (create_event);
create index tag_packages_revoke_event on tag_packages (revoke_event);

-- versioned owner of a package within a tag's package list
create table tag_package_owners (
    package_id integer not null references package (id),
    tag_id integer not null references tag (id),
    owner integer not null references users (id),
    -- versioning
    create_event integer not null references events (id) default get_event(),
    revoke_event integer references events (id),
    creator_id integer not null references users (id),
    revoker_id integer references users (id),
    active boolean default true check (active),
    constraint active_revoke_sane check (
        (active is not null and revoke_event is null and revoker_id is null)
        or (active is null and revoke_event is not null and revoker_id is not null)),
    primary key (create_event, package_id, tag_id),
    unique (package_id, tag_id, active)
);

-- build targets: a name resolved to (build tag, destination tag) below
create table build_target (
    id serial primary key,
    name text not null unique
);

-- versioned target definition; revoking the active row deletes the target
create table build_target_config (
    build_target_id integer not null references build_target (id),
    build_tag integer not null references tag (id),
    dest_tag integer not null references tag (id),
    -- versioning
    create_event integer not null references events (id) default get_event(),
    revoke_event integer references events (id),
    creator_id integer not null references users (id),
    revoker_id integer references users (id),
    active boolean default true check (active),
    constraint active_revoke_sane check (
        (active is not null and revoke_event is null and revoker_id is null)
        or (active is null and revoke_event is not null and revoker_id is not null)),
    primary key (create_event, build_target_id),
    unique (build_target_id, active)
);


-- ---------------------------------------------------------------------------
-- Builds
-- ---------------------------------------------------------------------------

-- storage volumes for build output; id 0 is the default volume
create table volume (
    id serial primary key,
    name text not null unique
);

insert into volume (id, name) values (0, 'DEFAULT');

-- external content generators that may import builds
create table content_generator (
    id serial primary key,
    name text not null unique
);

-- one row per N-V-R. state: 0 BUILDING, 1 COMPLETE, 2 DELETED, 3 FAILED,
-- 4 CANCELED. create_event is only a creation stamp (not versioning).
create table build (
    id serial primary key,
    volume_id integer not null references volume (id),
    pkg_id integer not null references package (id),
    version text not null,
    release text not null,
    epoch integer,
    source text,
    create_event integer not null references events (id) default get_event(),
    start_time timestamptz,
    completion_time timestamptz,
    state integer not null,
    task_id integer references task (id),
    owner integer not null references users (id),
    cg_id integer references content_generator (id),
    extra text,
    -- N-V-R is unique whatever the epoch
    constraint build_pkg_ver_rel unique (pkg_id, version, release),
    -- a build has a completion time exactly when it is no longer BUILDING
    constraint completion_sane check (
        (state = 0 and completion_time is null)
        or (state <> 0 and completion_time is not null))
);

create index build_by_pkg_id on build (pkg_id);
create index build_completion on build (completion_time);

-- versioned "build B is tagged into tag T"
create table tag_listing (
    build_id integer not null references build (id),
    tag_id integer not null references tag (id),
    -- versioning
    create_event integer not null references events (id) default get_event(),
    revoke_event integer references events (id),
    creator_id integer not null references users (id),
    revoker_id integer references users (id),
    active boolean default true check (active),
    constraint active_revoke_sane check (
        (active is not null and revoke_event is null and revoker_id is null)
        or (active is null and revoke_event is not null and revoker_id is not null)),
    primary key (create_event, build_id, tag_id),
    unique (build_id, tag_id, active)
);

create index tag_listing_tag_id_key on tag_listing (tag_id);


-- ---------------------------------------------------------------------------
-- Repos
-- ---------------------------------------------------------------------------

-- generated yum repos of (build) tags. state: 0 INIT, 1 READY, 2 EXPIRED,
-- 3 DELETED, 4 PROBLEM. create_event = the tag content the repo reflects.
create table repo (
    id serial primary key,
    create_event integer not null references events (id) default get_event(),
    tag_id integer not null references tag (id),
    state integer,
    dist boolean default false,
    task_id integer references task (id)
);


-- ---------------------------------------------------------------------------
-- Default read access, as a stock Koji database hands it out
-- ---------------------------------------------------------------------------

grant select on build, package, task, tag, tag_listing, tag_config,
    tag_inheritance, tag_packages to public;
