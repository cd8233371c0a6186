-- The catalog family: tags, their package lists and tagged builds, builds, repos.
--
-- Three kinds of statements. The "live" ones run in every scrape and touch only a few index
-- entries or a small table. The others run only in the exporter's background task, one
-- REPEATABLE READ READ ONLY transaction per cycle: the "every cycle" ones read what changed
-- since a window start (an event or an id a few minutes old) through an index, and the "full
-- recount" ones read whole tables (tag_listing, build, repo, the current tag_packages rows),
-- at start and then every full_recount_interval_seconds, with their rows streamed.
--
-- Names and other text that ends up in label values are selected as
-- convert_to(x, 'SQL_ASCII'): a bytea of the stored bytes, neither converted nor checked,
-- because a SQL_ASCII database may hold bytes that are not UTF-8 (src/lossy.rs decodes them).

-- name: recount_statement_timeout
-- Raises the statement timeout for the rest of the background transaction only (set_config
-- with is_local = true); the scrape sessions keep their own short timeout. No table is read.
select set_config('statement_timeout', $1, true)

-- name: catalog_changes
-- The change probe, run first in every background cycle. Each max() is one descent of an
-- index: the primary keys of tag_packages and tag_listing lead with create_event, tag_packages
-- has an index on revoke_event, package, build and repo are probed on their primary keys.
-- tag_config and tag_inheritance have no revoke_event index but hold one row per tag or link
-- and its history (thousands of rows). newest_event is where the next cycle's reads of new
-- taggings and package-list changes end; the ids are where the reads of new packages, builds
-- and repos end.
select
    (select max(create_event) from tag_inheritance) as inheritance_created,
    (select max(revoke_event) from tag_inheritance) as inheritance_revoked,
    (select max(create_event) from tag_config) as tags_created,
    (select max(revoke_event) from tag_config) as tags_revoked,
    greatest(
        (select max(create_event) from tag_listing),
        (select max(create_event) from tag_packages),
        (select max(revoke_event) from tag_packages)
    ) as newest_event,
    (select max(id) from package) as newest_package,
    (select max(id) from build) as newest_build,
    (select max(id) from repo) as newest_repo

-- name: live_tags
-- Tags that exist: a tag is deleted by revoking its tag_config row, so only tags with a current
-- row. One row per tag; tag_config is small (tags and their history). Full recount, and when
-- the probe saw tag_config change.
select t.id, convert_to(t.name, 'SQL_ASCII') as name
from tag t
join tag_config tc on tc.tag_id = t.id and tc.active

-- name: packages_after
-- Package names with an id above $1: every package at the full recount ($1 = 0, a sequential
-- scan of a table of one row per package), and in each cycle the packages of the id window (a
-- primary-key range scan of a few rows).
select id, convert_to(name, 'SQL_ASCII') as name from package where id > $1::int4

-- name: inheritance_links
-- Current parent links of every tag (small table: one row per link plus history). Full
-- recount, and when the probe saw tag_inheritance change.
select tag_id, parent_id, priority, maxdepth, intransitive, noconfig, pkg_filter
from tag_inheritance
where active

-- name: package_listings
-- Full recount: the current package list rows of every tag, blocked ones included (the
-- nearest entry wins in inheritance, blocked or not), streamed. Reads the current rows through
-- tag_packages_active_tag_id; cost is the number of current rows (about tags x packages per
-- tag).
select tag_id, package_id, blocked
from tag_packages
where active

-- name: package_list_changes
-- Every cycle: the (tag, package) pairs whose package-list row was created or revoked after
-- event $1 (the start of the event window), through the indexes tag_packages_create_event and
-- tag_packages_revoke_event, each with its current row if it has one (blocked, or NULL when
-- the package is no longer in the tag's own list), found through the unique (package_id,
-- tag_id, active) index. Cost: the rows of the window's package-list changes (a few).
select ch.tag_id, ch.package_id, cur.blocked
from (
    select tag_id, package_id from tag_packages where create_event > $1::int4
    union
    select tag_id, package_id from tag_packages where revoke_event > $1::int4
) ch
left join tag_packages cur
    on cur.package_id = ch.package_id and cur.tag_id = ch.tag_id and cur.active

-- name: tagged_builds
-- Full recount: current tag_listing rows of COMPLETE builds, counted per tag and package by
-- the database (rows streamed: one per tag and package). The one statement whose cost grows
-- with the whole tagging history: tag_listing has no index on active, so it is a sequential
-- scan of tag_listing joined (hash) to build.
select tl.tag_id, b.pkg_id, count(*)::int8 as builds
from tag_listing tl
join build b on b.id = tl.build_id
where tl.active and b.state = 1
group by tl.tag_id, b.pkg_id

-- name: taggings_after
-- Every cycle: the current taggings of COMPLETE builds created after event $1 (the start of
-- the event window): a range scan of tag_listing's primary key, which leads with
-- create_event, and one build primary-key probe per row. Cost: the taggings of the window
-- (minutes of tagging). Untagging leaves no indexed trace (revoke_event has no index): only a
-- tagging of the window that disappears from this answer is seen as untagged.
select tl.create_event, tl.build_id, tl.tag_id, b.pkg_id
from tag_listing tl
join build b on b.id = tl.build_id
where tl.create_event > $1::int4 and tl.active and b.state = 1

-- name: taggings_of_builds
-- Rarely: the current taggings, created at or before event $2 (below the event window, whose
-- taggings are read anyway), of the builds $1, whose state moved to or from COMPLETE since the
-- last cycle (Koji tags only COMPLETE builds, but a database may hold others). Found through
-- the unique (build_id, tag_id, active) index; cost: those builds' taggings.
select tl.build_id, tl.tag_id
from tag_listing tl
where tl.build_id = any($1::int4[]) and tl.active and tl.create_event <= $2::int4

-- name: builds_by_package_and_state
-- Full recount: build rows per package and state, counted by the database (rows streamed: a
-- few per package). build has no index on state, so this is a sequential scan of build
-- (narrow columns, no join).
select pkg_id, state, count(*)::int8 as builds
from build
group by pkg_id, state

-- name: builds_to_recheck
-- Every cycle (and at the full recount, to seed the window): builds with an id above $1 (the
-- start of the id window), the BUILDING builds below it that the exporter tracks ($2), every
-- BUILDING build (completion_time is null: finds a FAILED or CANCELED build that Koji recycled
-- back to BUILDING) and every build that finished in the last $3 seconds (finds a recycled
-- build that also finished between two cycles). A bitmap OR of two build primary-key scans and
-- two build_completion scans (its NULLs and the newest minutes); cost: the window's builds, the
-- BUILDING ones and the ones finished in the last minutes (few).
select id, pkg_id, state, coalesce(completion_time > now() - make_interval(secs => $3::float8), false) as recent
from build
where id > $1::int4 or id = any($2::int4[]) or completion_time is null
    or completion_time > now() - make_interval(secs => $3::float8)

-- name: builds_of_packages
-- Rarely: build rows per state of the packages $1, through build_by_pkg_id (cost: those
-- packages' builds). Used when a build Koji recycled changed state from one the exporter did
-- not keep.
select pkg_id, state, count(*)::int8 as builds
from build
where pkg_id = any($1::int4[])
group by pkg_id, state

-- name: repos_not_deleted
-- Full recount: every repo that is not DELETED (3), with the time of the tag content it
-- reflects (events.time of create_event). repo has only its primary key, so this is a
-- sequential scan of repo (most rows are DELETED and filtered there) plus one events
-- primary-key probe per repo returned (a few per tag).
select r.id, r.tag_id, coalesce(r.dist, false) as dist, r.state, r.create_event,
    extract(epoch from e.time)::float8 as time
from repo r
join events e on e.id = r.create_event
where r.state is distinct from 3

-- name: repos_deleted
-- Full recount: the DELETED repos at or below id $1 (the start of the id window; those above
-- it are kept row by row). A sequential scan of repo, counting only.
select count(*)::int8 from repo where state = 3 and id <= $1::int4

-- name: repos_after
-- Every cycle (and at the full recount, to seed the window): repos with an id above $1, the
-- start of the id window: a primary-key range scan of a few rows, one events probe each.
select r.id, r.tag_id, coalesce(r.dist, false) as dist, r.state, r.create_event,
    extract(epoch from e.time)::float8 as time
from repo r
join events e on e.id = r.create_event
where r.id > $1::int4

-- name: repo_states
-- Every cycle: the current state of the repos $1, the ones below the id window that were not
-- DELETED at the last look (DELETED is terminal, so those are never read again). One
-- primary-key probe per repo: a few per tag.
select id, state from repo where id = any($1::int4[])

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
