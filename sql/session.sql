-- Statements about the session and the server rather than about Koji.

-- name: family_deadline
-- Gives the rest of the family's transaction a statement timeout that ends at the family's
-- deadline ($1, milliseconds as text), so the server itself cancels a query that runs past it
-- instead of leaving it behind when the exporter stops waiting. Local to the transaction.
select set_config('statement_timeout', $1, true)

-- name: server_state
-- Hot standby or not, and how far behind its primary a standby's data is: the time of the last
-- transaction it replayed (NULL on a primary, and on a standby that has replayed nothing yet).
select
    pg_is_in_recovery() as in_recovery,
    extract(epoch from pg_last_xact_replay_timestamp())::float8 as replayed_at,
    extract(epoch from now())::float8 as server_now
