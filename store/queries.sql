-- Named SQL of the store layer; each repository is the only caller of its queries.

-- name: egress_all
SELECT id, provider, country, scheme, host, port, session_id, username, password, enabled
FROM egress ORDER BY country, provider NULLS LAST, id;

-- name: egress_get
SELECT id, provider, country, scheme, host, port, session_id, username, password, enabled
FROM egress WHERE id = %(id)s;

-- name: egress_ids_like
SELECT id FROM egress WHERE id LIKE %(pattern)s;

-- name: egress_insert
INSERT INTO egress (id, provider, country, scheme, host, port, session_id, username, password, enabled)
VALUES (%(id)s, %(provider)s, %(country)s, %(scheme)s, %(host)s, %(port)s, %(session_id)s, %(username)s,
        %(password)s, %(enabled)s)
ON CONFLICT DO NOTHING
RETURNING id;

-- name: egress_find_static
SELECT id, provider, country, scheme, host, port, session_id, username, password, enabled
FROM egress
WHERE provider IS NULL AND scheme = %(scheme)s AND host = %(host)s AND port = %(port)s
  AND coalesce(username, '') = coalesce(%(username)s, '') AND coalesce(password, '') = coalesce(%(password)s, '');

-- name: egress_delete
DELETE FROM egress WHERE id = %(id)s
RETURNING id, provider, country, scheme, host, port, session_id, username, password, enabled;

-- name: egress_set_enabled
UPDATE egress SET enabled = %(enabled)s WHERE id = %(id)s
RETURNING id, provider, country, scheme, host, port, session_id, username, password, enabled;

-- name: snapshot_insert
INSERT INTO pool_snapshots (taken_at, country, total, ready, leased, cooling, quarantined, disabled,
                            utilization, leases, lease_waits, no_egress)
VALUES (%(taken_at)s, %(country)s, %(total)s, %(ready)s, %(leased)s, %(cooling)s, %(quarantined)s,
        %(disabled)s, %(utilization)s, %(leases)s, %(lease_waits)s, %(no_egress)s)
ON CONFLICT DO NOTHING;

-- name: snapshot_latest
SELECT taken_at, country, total, ready, leased, cooling, quarantined, disabled, utilization, leases,
       lease_waits, no_egress
FROM pool_snapshots WHERE taken_at = (SELECT max(taken_at) FROM pool_snapshots) ORDER BY country;

-- name: offer_insert
INSERT INTO offers (slug, name, tracking_url, fallback_url, final_url, country, fallback_countries, wait_ms,
                    cooldown_s, ua_profile, param_policy, sub_id_mapping, update_interval_s, enabled)
VALUES (%(slug)s, %(name)s, %(tracking_url)s, %(fallback_url)s, %(final_url)s, %(country)s,
        %(fallback_countries)s, %(wait_ms)s, %(cooldown_s)s, %(ua_profile)s, %(param_policy)s,
        %(sub_id_mapping)s, %(update_interval_s)s, %(enabled)s)
RETURNING *;

-- name: offer_by_id
SELECT * FROM offers WHERE id = %(id)s;

-- name: offer_by_slug
SELECT * FROM offers WHERE slug = %(slug)s;

-- name: offer_lock
SELECT * FROM offers WHERE id = %(id)s FOR UPDATE;

-- name: offer_list
SELECT * FROM offers ORDER BY slug;

-- name: offer_update
UPDATE offers SET slug = %(slug)s, name = %(name)s, tracking_url = %(tracking_url)s, fallback_url = %(fallback_url)s,
    final_url = %(final_url)s, country = %(country)s, fallback_countries = %(fallback_countries)s,
    wait_ms = %(wait_ms)s, cooldown_s = %(cooldown_s)s, ua_profile = %(ua_profile)s, param_policy = %(param_policy)s,
    sub_id_mapping = %(sub_id_mapping)s, update_interval_s = %(update_interval_s)s, enabled = %(enabled)s,
    updated_at = now()
WHERE id = %(id)s
RETURNING *;

-- name: traces_recent
SELECT t.id, t.created_at, t.source, t.offer_id, o.slug AS offer, t.outcome, t.error, t.egress_id, t.inbound,
       t.params, t.hops, t.final_url, t.redirect_url, t.lease_wait_ms, t.trace_ms, t.total_ms
FROM traces t LEFT JOIN offers o ON o.id = t.offer_id
WHERE (%(offer_id)s::uuid IS NULL OR t.offer_id = %(offer_id)s::uuid)
ORDER BY t.created_at DESC, t.id
LIMIT %(limit)s;

-- name: traces_by_outcome
SELECT outcome, count(*) FROM traces
WHERE (%(offer_id)s::uuid IS NULL OR offer_id = %(offer_id)s::uuid)
GROUP BY outcome;
