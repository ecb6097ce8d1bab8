-- Named SQL of the store layer; each repository is the only caller of its queries. `{name}` marks an
-- identifier composed with psycopg.sql (databases have no bind parameters).

-- name: ping
SELECT 1;

-- name: database_exists
SELECT 1 FROM pg_database WHERE datname = %(name)s;

-- name: database_create
CREATE DATABASE {name};

-- name: database_create_from
CREATE DATABASE {name} TEMPLATE {template};

-- name: database_drop
DROP DATABASE IF EXISTS {name} WITH (FORCE);

-- name: migrations_lock
SELECT pg_advisory_lock(%(lock)s);

-- name: migrations_unlock
SELECT pg_advisory_unlock(%(lock)s);

-- name: migrations_table
CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
    checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());

-- name: migrations_applied
SELECT version, checksum FROM schema_migrations;

-- name: migration_record
INSERT INTO schema_migrations (version, name, checksum) VALUES (%(version)s, %(name)s, %(checksum)s);

-- name: slots_all
SELECT id, provider, country, scheme, host, port, session_id, username, password, enabled
FROM slots ORDER BY country, provider NULLS LAST, id;

-- name: slots_get
SELECT id, provider, country, scheme, host, port, session_id, username, password, enabled
FROM slots WHERE id = %(id)s;

-- name: slot_ids_like
SELECT id FROM slots WHERE id LIKE %(pattern)s;

-- name: slots_insert
INSERT INTO slots (id, provider, country, scheme, host, port, session_id, username, password, enabled)
VALUES (%(id)s, %(provider)s, %(country)s, %(scheme)s, %(host)s, %(port)s, %(session_id)s, %(username)s,
        %(password)s, %(enabled)s)
ON CONFLICT DO NOTHING
RETURNING id;

-- name: slots_find_static
SELECT id, provider, country, scheme, host, port, session_id, username, password, enabled
FROM slots
WHERE provider IS NULL AND scheme = %(scheme)s AND host = %(host)s AND port = %(port)s
  AND coalesce(username, '') = coalesce(%(username)s, '') AND coalesce(password, '') = coalesce(%(password)s, '');

-- name: slots_delete
DELETE FROM slots WHERE id = %(id)s
RETURNING id, provider, country, scheme, host, port, session_id, username, password, enabled;

-- name: slots_set_enabled
UPDATE slots SET enabled = %(enabled)s WHERE id = %(id)s
RETURNING id, provider, country, scheme, host, port, session_id, username, password, enabled;

-- name: snapshot_insert
INSERT INTO pool_snapshots (taken_at, country, total, ready, leased, cooling, quarantined, disabled,
                            utilization, leases, lease_waits, no_egress)
VALUES (%(taken_at)s, %(country)s, %(total)s, %(ready)s, %(leased)s, %(cooling)s, %(quarantined)s,
        %(disabled)s, %(utilization)s, %(leases)s, %(lease_waits)s, %(no_egress)s)
ON CONFLICT DO NOTHING;

-- name: snapshots_since
SELECT taken_at, country, utilization FROM pool_snapshots WHERE taken_at >= %(since)s ORDER BY taken_at, country;

-- name: snapshot_latest
SELECT taken_at, country, total, ready, leased, cooling, quarantined, disabled, utilization, leases,
       lease_waits, no_egress
FROM pool_snapshots WHERE taken_at = (SELECT max(taken_at) FROM pool_snapshots) ORDER BY country;

-- name: offer_insert
INSERT INTO offers (slug, name, tracking_url, fallback_url, final_url, country, fallback_countries, wait_ms,
                    cooldown_s, ua_profile, param_policy, pass_through, sub_id_mapping, update_interval_s, enabled,
                    click_mode, ahead_depth, ahead_max_age_s, tracer)
VALUES (%(slug)s, %(name)s, %(tracking_url)s, %(fallback_url)s, %(final_url)s, %(country)s,
        %(fallback_countries)s, %(wait_ms)s, %(cooldown_s)s, %(ua_profile)s, %(param_policy)s, %(pass_through)s,
        %(sub_id_mapping)s, %(update_interval_s)s, %(enabled)s, %(click_mode)s, %(ahead_depth)s, %(ahead_max_age_s)s,
        %(tracer)s)
RETURNING *;

-- name: offer_by_id
SELECT * FROM offers WHERE id = %(id)s;

-- name: offer_by_slug
SELECT * FROM offers WHERE slug = %(slug)s;

-- name: offer_lock
SELECT * FROM offers WHERE id = %(id)s FOR UPDATE;

-- name: offer_set_feed_token
UPDATE offers SET feed_token = %(token)s, feed_token_hash = %(token_hash)s, updated_at = now() WHERE id = %(id)s
RETURNING *;

-- name: offer_list
SELECT * FROM offers ORDER BY slug;

-- name: offer_update
UPDATE offers SET slug = %(slug)s, name = %(name)s, tracking_url = %(tracking_url)s, fallback_url = %(fallback_url)s,
    final_url = %(final_url)s, country = %(country)s, fallback_countries = %(fallback_countries)s,
    wait_ms = %(wait_ms)s, cooldown_s = %(cooldown_s)s, ua_profile = %(ua_profile)s, param_policy = %(param_policy)s,
    pass_through = %(pass_through)s, sub_id_mapping = %(sub_id_mapping)s, update_interval_s = %(update_interval_s)s,
    enabled = %(enabled)s, click_mode = %(click_mode)s, ahead_depth = %(ahead_depth)s,
    ahead_max_age_s = %(ahead_max_age_s)s, tracer = %(tracer)s, updated_at = now()
WHERE id = %(id)s
RETURNING *;

-- name: traces_copy
COPY traces (id, created_at, source, offer_id, webhook_event_id, slot_id, outcome, error, inbound, params, hops,
             final_url, redirect_url, lease_wait_ms, trace_ms, total_ms, ahead_trace_id, ahead_age_ms, tracer)
FROM STDIN;

-- name: traces_recent
SELECT t.id, t.created_at, t.source, t.offer_id, o.slug AS offer, t.outcome, t.error, t.slot_id, t.inbound,
       t.params, t.hops, t.final_url, t.redirect_url, t.lease_wait_ms, t.trace_ms, t.total_ms, t.ahead_trace_id,
       t.ahead_age_ms, t.tracer
FROM traces t LEFT JOIN offers o ON o.id = t.offer_id
WHERE (%(offer_id)s::uuid IS NULL OR t.offer_id = %(offer_id)s::uuid)
  AND (%(outcome)s::text IS NULL OR t.outcome = %(outcome)s::text)
  AND (%(slot_id)s::text IS NULL OR t.slot_id = %(slot_id)s::text)
ORDER BY t.created_at DESC, t.id
LIMIT %(limit)s;

-- name: trace_get
SELECT t.id, t.created_at, t.source, t.offer_id, o.slug AS offer, t.outcome, t.error, t.slot_id, t.inbound,
       t.params, t.hops, t.final_url, t.redirect_url, t.lease_wait_ms, t.trace_ms, t.total_ms, t.ahead_trace_id,
       t.ahead_age_ms, t.tracer
FROM traces t LEFT JOIN offers o ON o.id = t.offer_id
WHERE t.id = %(id)s;

-- name: traces_outcomes_since
SELECT offer_id, outcome, count(*) FROM traces
WHERE created_at >= %(since)s AND source = 'click' AND (%(offer_id)s::uuid IS NULL OR offer_id = %(offer_id)s::uuid)
GROUP BY offer_id, outcome;

-- name: traces_by_outcome
SELECT outcome, count(*) FROM traces
WHERE (%(offer_id)s::uuid IS NULL OR offer_id = %(offer_id)s::uuid)
GROUP BY outcome;

-- name: traces_ahead_uses
SELECT count(*) AS uses, count(DISTINCT t.ahead_trace_id) AS traces, coalesce(max(t.ahead_age_ms), 0) AS oldest_ms,
       count(*) FILTER (WHERE made.id IS NULL) AS unknown,
       count(*) FILTER (WHERE made.id IS NOT NULL AND made.hops -> 0 ->> 'url' IS DISTINCT FROM %(clean_url)s)
           AS private
FROM traces t LEFT JOIN traces made ON made.id = t.ahead_trace_id
WHERE t.offer_id = %(offer_id)s AND t.ahead_trace_id IS NOT NULL;

-- name: trackier_call_insert
INSERT INTO trackier_calls (method, path, status, ms, attempt, error, offer_id, pair_id)
VALUES (%(method)s, %(path)s, %(status)s, %(ms)s, %(attempt)s, %(error)s, %(offer_id)s, %(pair_id)s);

-- name: trackier_calls_recent
SELECT called_at, method, path, status, ms, attempt, error, offer_id, pair_id
FROM trackier_calls ORDER BY id DESC LIMIT %(limit)s;

-- name: pairs_for_offer
SELECT * FROM pairs WHERE offer_id = %(offer_id)s ORDER BY pair_index;

-- name: pair_get
SELECT * FROM pairs WHERE offer_id = %(offer_id)s AND pair_index = %(pair_index)s;

-- name: pair_by_id
SELECT * FROM pairs WHERE id = %(id)s;

-- name: pair_by_token_hash
SELECT * FROM pairs WHERE token_hash = %(token_hash)s;

-- name: pair_by_campaign
-- A campaign id as Trackier's S2S push sends it: the numeric id or the hashed one, of URL1 (preferred) or URL2.
SELECT * FROM pairs
WHERE %(campaign_id)s IN (url1_campaign_id, url1_campaign_hash, url2_campaign_id, url2_campaign_hash)
ORDER BY (%(campaign_id)s IN (url1_campaign_id, url1_campaign_hash)) DESC, id LIMIT 1;

-- name: pair_insert_partial
INSERT INTO pairs (offer_id, pair_index, name, url2_campaign_id, url2_campaign_hash, webhook_token, token_hash)
VALUES (%(offer_id)s, %(pair_index)s, %(name)s, %(url2_campaign_id)s, %(url2_campaign_hash)s, %(webhook_token)s,
        %(token_hash)s)
RETURNING *;

-- name: pair_complete
UPDATE pairs SET url1_campaign_id = %(url1_campaign_id)s, url1_campaign_hash = %(url1_campaign_hash)s,
    template = %(template)s
WHERE id = %(id)s RETURNING *;

-- name: pair_change
UPDATE pairs SET name = coalesce(%(name)s, name), enabled = coalesce(%(enabled)s, enabled)
WHERE offer_id = %(offer_id)s AND pair_index = %(pair_index)s RETURNING *;

-- name: pair_record_update
UPDATE pairs SET update_count = update_count + 1, sub_id_values = %(sub_id_values)s, last_update_at = now(),
    last_update_ms = %(ms)s
WHERE id = %(id)s;

-- name: events_receive
-- Postbacks arriving together, written in one statement with their pairs' counts. Identity ids are given in
-- insertion order, which follows `ord`, so the sorted ids match the input's order.
WITH input AS (
    SELECT * FROM unnest(%(route)s::text[], %(offer_id)s::uuid[], %(pair_id)s::bigint[], %(click_id)s::text[],
                         %(campaign_id)s::text[], %(params)s::jsonb[], %(client_addr)s::inet[],
                         %(force_update)s::bool[], %(status)s::text[])
        WITH ORDINALITY AS i(route, offer_id, pair_id, click_id, campaign_id, params, client_addr, force_update,
                             status, ord)
), inserted AS (
    INSERT INTO webhook_events (route, offer_id, pair_id, click_id, campaign_id, params, client_addr,
                                force_update, status)
    SELECT route, offer_id, pair_id, click_id, campaign_id, params, client_addr, force_update, status
    FROM input ORDER BY ord
    RETURNING id
), counted AS (
    UPDATE pairs p SET webhook_count = p.webhook_count + c.n, last_webhook_at = now()
    FROM (SELECT pair_id, count(*) AS n FROM input WHERE pair_id IS NOT NULL GROUP BY pair_id) c
    WHERE p.id = c.pair_id
)
SELECT id FROM inserted ORDER BY id;

-- name: event_claim
UPDATE webhook_events SET status = 'processing', claimed_at = now(), attempts = attempts + 1
WHERE id = %(id)s AND (status = 'pending'
    OR (status = 'processing' AND claimed_at < now() - make_interval(secs => %(processing_s)s)))
RETURNING *;

-- name: event_finish
UPDATE webhook_events SET status = %(status)s, processed_at = now(), trace_ms = %(trace_ms)s,
    update_ms = %(update_ms)s, sub_id_values = %(sub_id_values)s, error = %(error)s
WHERE id = %(id)s;

-- name: events_finish_quick
UPDATE webhook_events e SET status = q.status, processed_at = now()
FROM unnest(%(ids)s::bigint[], %(statuses)s::text[]) AS q(id, status)
WHERE e.id = q.id AND e.status IN ('pending', 'processing')
RETURNING e.id;

-- name: event_get
SELECT * FROM webhook_events WHERE id = %(id)s;

-- name: events_stale
SELECT id FROM webhook_events
WHERE (status = 'pending' AND received_at < now() - make_interval(secs => %(pending_s)s))
   OR (status = 'processing' AND claimed_at < now() - make_interval(secs => %(processing_s)s))
ORDER BY received_at LIMIT %(limit)s;

-- name: events_give_up
UPDATE webhook_events SET status = 'failed', processed_at = now(),
    error = coalesce(error, 'gave up after ' || attempts || ' attempts')
WHERE status IN ('pending', 'processing') AND attempts >= %(max_attempts)s
  AND received_at < now() - make_interval(secs => %(pending_s)s);

-- name: events_per_hour
SELECT date_trunc('hour', received_at) AS hour, count(*) AS postbacks,
       count(*) FILTER (WHERE status = 'updated') AS updates
FROM webhook_events WHERE received_at >= %(since)s
GROUP BY 1 ORDER BY 1;

-- name: events_by_status
SELECT status, count(*) FROM webhook_events
WHERE (%(offer_id)s::uuid IS NULL OR offer_id = %(offer_id)s::uuid)
GROUP BY status;
