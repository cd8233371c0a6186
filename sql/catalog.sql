-- The catalog family: tags, their package lists and tagged builds, builds, repos.
--
-- Two kinds of statements. The "live" ones run in every scrape and touch only a few index
-- entries or a small table. The "recount" ones read whole tables (tag_listing, build, repo,
-- the current tag_packages rows); they run only in the exporter's background task, one
-- REPEATABLE READ READ ONLY transaction per cycle, and only when the change probe
-- (catalog_changes) says their input changed or the periodic full recount is due.
--
-- Names and other text that ends up in label values are selected as
-- convert_to(x, 'SQL_ASCII'): a bytea of the stored bytes, neither converted nor checked,
-- because a SQL_ASCII database may hold bytes that are not UTF-8 (src/lossy.rs decodes them).

-- name: recount_statement_timeout
-- Raises the statement timeout for the rest of the background transaction only (set_config
-- with is_local = true); the scrape sessions keep their own short timeout. No table is read.
select set_config('statement_timeout', $1, true)

-- name: catalog_changes
-- The change probe, run every background cycle: the newest event that created or revoked a
-- row of each versioned input, the newest package and build ids, the newest completion time
-- and the number of BUILDING builds. Each max() is one descent of an index: the primary keys of
-- tag_packages and tag_listing lead with create_event, tag_packages has an index on
-- revoke_event, build_completion covers completion_time (also its NULLs, i.e. BUILDING builds,
-- which are few), and package and build are probed on their primary keys. tag_config and
-- tag_inheritance have no revoke_event index but hold one row per tag or link and its history
-- (thousands of rows). tag_listing revocations (untagging) and build deletions have no cheap
-- trace; the periodic full recount catches them.
select
    (select max(create_event) from tag_packages) as packages_created,
    (select max(revoke_event) from tag_packages) as packages_revoked,
    (select max(create_event) from tag_inheritance) as inheritance_created,
    (select max(revoke_event) from tag_inheritance) as inheritance_revoked,
    (select max(create_event) from tag_config) as tags_created,
    (select max(revoke_event) from tag_config) as tags_revoked,
    (select max(id) from package) as newest_package,
    (select max(create_event) from tag_listing) as listings_created,
    (select max(id) from build) as newest_build,
    (select extract(epoch from max(completion_time))::float8 from build) as newest_completion,
    (select count(*) from build where completion_time is null)::int8 as building

-- name: live_tags
-- Tags that exist: a tag is deleted by revoking its tag_config row, so only tags with a current
-- row. One row per tag; tag_config is small (tags and their history).
select t.id, convert_to(t.name, 'SQL_ASCII') as name
from tag t
join tag_config tc on tc.tag_id = t.id and tc.active

-- name: packages
-- Every package name with its id (thousands of rows, read in full).
select id, convert_to(name, 'SQL_ASCII') as name from package

-- name: inheritance_links
-- Current parent links of every tag (small table: one row per link plus history).
select tag_id, parent_id, priority, maxdepth, intransitive, noconfig, pkg_filter
from tag_inheritance
where active

-- name: package_listings
-- The current package list rows of every tag, blocked ones included (the nearest entry wins
-- in inheritance, blocked or not). Reads the current rows through tag_packages_active_tag_id;
-- cost is the number of current rows (about tags x packages per tag), recount only.
select tag_id, package_id, blocked
from tag_packages
where active

-- name: tagged_builds
-- Current tag_listing rows of COMPLETE builds, counted per tag and package. This is the one
-- statement whose cost grows with the whole tagging history: tag_listing has no index on
-- active, so it is a sequential scan of tag_listing joined (hash) to build. Recount only,
-- when the newest tag_listing create_event moved or the full recount is due.
select tl.tag_id, b.pkg_id, count(*)::int8 as builds
from tag_listing tl
join build b on b.id = tl.build_id
where tl.active and b.state = 1
group by tl.tag_id, b.pkg_id

-- name: builds_by_package_and_state
-- Build rows per package and state. build has no index on state, so this is a sequential scan
-- of build (narrow columns, no join). Recount only, when the newest build id, the newest
-- completion time or the number of BUILDING builds changed, or the full recount is due.
select pkg_id, state, count(*)::int8 as builds
from build
group by pkg_id, state

-- name: repos
-- Repos per tag, kind (dist or not) and state, with the time of the tag content the newest of
-- each group reflects (events.time of repo.create_event). repo has only its primary key, so
-- this is a sequential scan of repo plus one events primary-key probe per group (a few per
-- tag). Every background cycle: a repo's state changes (INIT -> READY -> EXPIRED) leave no
-- indexed trace.
select g.tag_id, g.dist, g.state, g.repos, extract(epoch from e.time)::float8 as newest_time
from (
    select tag_id, coalesce(dist, false) as dist, state, count(*)::int8 as repos, max(create_event) as newest_event
    from repo
    group by tag_id, coalesce(dist, false), state
) g
join events e on e.id = g.newest_event

-- name: builds_finished_recently
-- Live, every scrape: builds whose completion_time falls in the last hour, day and week, by
-- their current state. A range scan of build_completion over one week of builds (thousands of
-- rows, each fetched for its state); nothing older is touched.
select
    state,
    (count(*) filter (where completion_time >= now() - interval '1 hour'))::int8 as last_hour,
    (count(*) filter (where completion_time >= now() - interval '1 day'))::int8 as last_day,
    count(*)::int8 as last_week
from build
where completion_time >= now() - interval '7 days'
group by state

-- name: repo_queue
-- Live, Koji 1.35+: the repo request queue (active rows) and the creation time of its oldest
-- request. repo_queue has no secondary index but stays small: the hub purges inactive rows.
select count(*)::int8 as requests, extract(epoch from min(create_time))::float8 as oldest
from repo_queue
where active
