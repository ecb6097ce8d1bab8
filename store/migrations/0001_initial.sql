-- Offers, campaign pairs, the egress inventory, webhook events, trace records, pool snapshots and the
-- Trackier API call log. PostgreSQL is the source of truth; Redis only mirrors live pool state.

CREATE TABLE offers (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug                text NOT NULL,
    name                text NOT NULL,
    tracking_url        text NOT NULL,
    fallback_url        text,
    final_url           text,
    country             text NOT NULL,
    fallback_countries  text[] NOT NULL DEFAULT '{}',
    wait_ms             integer NOT NULL DEFAULT 8000,
    cooldown_s          integer,
    ua_profile          text NOT NULL DEFAULT 'desktop',
    param_policy        jsonb NOT NULL DEFAULT '{"mode": "all"}',
    sub_id_mapping      jsonb NOT NULL DEFAULT '{"p1": "gclid", "p2": "fbclid", "p3": "msclkid", "p4": "ttclid",
                                                 "p5": "clickid", "p6": "utm_source", "p7": "utm_medium",
                                                 "p8": "utm_campaign", "p9": "custom1", "p10": "custom2"}',
    update_interval_s   integer NOT NULL DEFAULT 300,
    enabled             boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT offers_slug_key UNIQUE (slug),
    CONSTRAINT offers_slug_format CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    CONSTRAINT offers_name_length CHECK (length(name) BETWEEN 1 AND 200),
    CONSTRAINT offers_country_format CHECK (country ~ '^[a-z]{2}$'),
    CONSTRAINT offers_wait_ms_range CHECK (wait_ms BETWEEN 0 AND 120000),
    CONSTRAINT offers_cooldown_range CHECK (cooldown_s IS NULL OR cooldown_s BETWEEN 0 AND 3600),
    CONSTRAINT offers_update_interval_range CHECK (update_interval_s BETWEEN 0 AND 86400)
);

CREATE TABLE pairs (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    offer_id            uuid NOT NULL REFERENCES offers (id) ON DELETE CASCADE,
    pair_index          smallint NOT NULL,
    name                text NOT NULL DEFAULT '',
    url1_campaign_id    text NOT NULL,
    url2_campaign_id    text NOT NULL,
    webhook_token       text NOT NULL,
    template            text NOT NULL,
    enabled             boolean NOT NULL DEFAULT true,
    webhook_count       bigint NOT NULL DEFAULT 0,
    update_count        bigint NOT NULL DEFAULT 0,
    sub_id_values       jsonb NOT NULL DEFAULT '{}',
    last_webhook_at     timestamptz,
    last_update_at      timestamptz,
    last_update_ms      integer,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pairs_offer_index_key UNIQUE (offer_id, pair_index),
    CONSTRAINT pairs_webhook_token_key UNIQUE (webhook_token),
    CONSTRAINT pairs_index_range CHECK (pair_index BETWEEN 1 AND 20),
    CONSTRAINT pairs_token_length CHECK (length(webhook_token) >= 22)
);
CREATE INDEX pairs_url1_campaign_idx ON pairs (url1_campaign_id);
CREATE INDEX pairs_url2_campaign_idx ON pairs (url2_campaign_id);

-- One row per egress slot. Provider slots take username and password from [provider:NAME] at lease
-- time; a static proxy keeps its own credentials here (never in Redis).
CREATE TABLE egress (
    id                  text PRIMARY KEY,
    provider            text,
    country             text NOT NULL,
    scheme              text NOT NULL,
    host                text NOT NULL,
    port                integer NOT NULL,
    session_id          text,
    username            text,
    password            text,
    enabled             boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT egress_id_format CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$'),
    CONSTRAINT egress_country_format CHECK (country ~ '^[a-z]{2}$'),
    CONSTRAINT egress_scheme_known CHECK (scheme IN ('http', 'socks5', 'socks5h')),
    CONSTRAINT egress_port_range CHECK (port BETWEEN 1 AND 65535),
    CONSTRAINT egress_provider_session CHECK (provider IS NULL OR session_id IS NOT NULL),
    CONSTRAINT egress_provider_session_key UNIQUE (provider, country, session_id)
);
CREATE UNIQUE INDEX egress_static_key ON egress (scheme, host, port, coalesce(username, ''), coalesce(password, ''))
    WHERE provider IS NULL;
CREATE INDEX egress_country_idx ON egress (country);

-- Written before a postback is acknowledged; `status` moves on as the event is processed.
CREATE TABLE webhook_events (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at         timestamptz NOT NULL DEFAULT now(),
    route               text NOT NULL,
    offer_id            uuid REFERENCES offers (id) ON DELETE SET NULL,
    pair_id             bigint REFERENCES pairs (id) ON DELETE SET NULL,
    click_id            text,
    campaign_id         text,
    params              jsonb NOT NULL DEFAULT '{}',
    client_addr         inet,
    force_update        boolean NOT NULL DEFAULT false,
    status              text NOT NULL,
    attempts            integer NOT NULL DEFAULT 0,
    processed_at        timestamptz,
    trace_ms            integer,
    update_ms           integer,
    sub_id_values       jsonb,
    error               text,
    CONSTRAINT webhook_events_route_known CHECK (route IN ('offer', 'token', 'campaign', 'unresolved')),
    CONSTRAINT webhook_events_status_known CHECK (status IN ('pending', 'processing', 'updated', 'throttled',
        'duplicate', 'coalesced', 'disabled', 'unresolved', 'failed'))
);
CREATE INDEX webhook_events_received_idx ON webhook_events (received_at);
CREATE INDEX webhook_events_pair_idx ON webhook_events (pair_id, received_at);
CREATE INDEX webhook_events_pending_idx ON webhook_events (received_at) WHERE status IN ('pending', 'processing');

-- One row per traced (or fallen-back) click, and per trace a postback ran.
CREATE TABLE traces (
    id                  uuid PRIMARY KEY,
    created_at          timestamptz NOT NULL DEFAULT now(),
    source              text NOT NULL DEFAULT 'click',
    offer_id            uuid REFERENCES offers (id) ON DELETE SET NULL,
    webhook_event_id    bigint REFERENCES webhook_events (id) ON DELETE SET NULL,
    egress_id           text,
    outcome             text NOT NULL,
    error               text,
    inbound             jsonb NOT NULL DEFAULT '{}',
    params              jsonb NOT NULL DEFAULT '[]',
    hops                jsonb NOT NULL DEFAULT '[]',
    final_url           text,
    redirect_url        text,
    lease_wait_ms       integer,
    trace_ms            integer,
    total_ms            integer,
    CONSTRAINT traces_source_known CHECK (source IN ('click', 'postback')),
    CONSTRAINT traces_outcome_known CHECK (outcome IN ('final', 'fallback_timeout', 'fallback_error',
        'fallback_no_egress', 'fallback_bot', 'beacon', 'traced', 'failed'))
);
CREATE INDEX traces_created_idx ON traces (created_at);
CREATE INDEX traces_offer_created_idx ON traces (offer_id, created_at);

CREATE TABLE pool_snapshots (
    taken_at            timestamptz NOT NULL,
    country             text NOT NULL,
    total               integer NOT NULL,
    ready               integer NOT NULL,
    leased              integer NOT NULL,
    cooling             integer NOT NULL,
    quarantined         integer NOT NULL,
    disabled            integer NOT NULL,
    utilization         real NOT NULL,
    leases              bigint NOT NULL DEFAULT 0,
    lease_waits         bigint NOT NULL DEFAULT 0,
    no_egress           bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (taken_at, country),
    CONSTRAINT pool_snapshots_counts CHECK (total >= 0 AND ready >= 0 AND leased >= 0 AND cooling >= 0
        AND quarantined >= 0 AND disabled >= 0)
);

CREATE TABLE trackier_calls (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    called_at           timestamptz NOT NULL DEFAULT now(),
    method              text NOT NULL,
    path                text NOT NULL,
    status              integer,
    ms                  integer NOT NULL,
    attempt             integer NOT NULL DEFAULT 1,
    error               text,
    offer_id            uuid REFERENCES offers (id) ON DELETE SET NULL,
    pair_id             bigint REFERENCES pairs (id) ON DELETE SET NULL
);
CREATE INDEX trackier_calls_called_idx ON trackier_calls (called_at);
