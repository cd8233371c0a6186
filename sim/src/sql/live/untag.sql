-- untag.sql: someone untags one recently tagged build: its active tag_listing row is revoked
-- (active NULL, revoke_event a new event, revoker bodhi). Re-tagging would insert a new row.
update tag_listing
set active = null, revoke_event = get_event(), revoker_id = 3
where (create_event, build_id, tag_id) in (
    select create_event, build_id, tag_id
    from tag_listing
    where active and create_event > (select max(id) from events) - 20000
    order by random()
    limit 1
)
returning build_id
