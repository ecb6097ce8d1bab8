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
