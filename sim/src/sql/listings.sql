-- listings.sql: tag_listing rows $1 .. $2 of the whole set.
--
-- The tagged builds (COMPLETE, and DELETED ones whose rows are all revoked) are numbered 1 .. n;
-- row i belongs to build k = 1 + (i-1) % n in round (i-1) / n. Round 0 tags a build into its
-- release's candidate tag, then testing, updates and the release itself (the way updates move on:
-- candidate and testing rows are revoked); later rounds put it into distinct side tags, revoked
-- when that side tag is gone and sometimes by hand. Each build gets distinct tags, so there is
-- never more than one active row per (build, tag).
insert into tag_listing (build_id, tag_id, create_event, revoke_event, creator_id, revoker_id, active)
with x as (
    select i, 1 + (i - 1) % n.n as k, (i - 1) / n.n as round
    from generate_series($1::bigint, $2::bigint) as i, (select count(*) as n from sim_tagged) as n
), y as (
    select x.round, b.build_id, b.deleted,
           case x.round when 0 then (b.rel - 1) * 8 + 3 when 1 then (b.rel - 1) * 8 + 4
                        when 2 then (b.rel - 1) * 8 + 2 when 3 then (b.rel - 1) * 8 + 1
                        else 8 * sim.releases + 1 + (b.build_id + x.round * 7919) % greatest(1, sim.tags - 8 * sim.releases)
           end as tag_id,
           least(sim.events, b.done_event + x.round * (1 + b.build_id % 40)) as ce,
           pg_temp.rnd(b.build_id * 64 + x.round, 60) as u
    from x join sim_tagged b on b.k = x.k, sim
), z as (
    select y.*, g.gone,
           y.deleted or y.round in (0, 1) or (y.round > 3 and (g.gone is not null or y.u < 0.4)) as revoked
    from y left join sim_tag_gone g on g.t = y.tag_id and y.round > 3
)
select build_id, tag_id, ce,
       case when revoked then least((select events from sim), greatest(ce + 1 + (build_id % 30), coalesce(gone, 0))) end,
       case when round = 0 then 4 else 3 end,
       case when revoked then 3 end,
       case when not revoked then true end
from z
