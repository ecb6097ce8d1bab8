-- Traces made ahead of the clicks. An offer answers its clicks inline (wait for its own trace, as before), ahead
-- (from its bucket of fresh traces, inline when it is empty) or ahead_only (bucket or fallback, never wait). Depth
-- and age limit per offer, NULL meaning the [ahead] defaults. A per-offer feed token lets Google Ads scripts fetch
-- suffixes (looked up by its SHA-256).
ALTER TABLE offers ADD COLUMN click_mode text NOT NULL DEFAULT 'inline'
    CONSTRAINT offers_click_mode_known CHECK (click_mode IN ('inline', 'ahead', 'ahead_only'));
ALTER TABLE offers ADD COLUMN ahead_depth integer CONSTRAINT offers_ahead_depth_range CHECK (ahead_depth BETWEEN 1 AND 1000);
ALTER TABLE offers ADD COLUMN ahead_max_age_s integer
    CONSTRAINT offers_ahead_max_age_range CHECK (ahead_max_age_s BETWEEN 5 AND 86400);
ALTER TABLE offers ADD COLUMN feed_token text;
ALTER TABLE offers ADD COLUMN feed_token_hash bytea CONSTRAINT offers_feed_token_hash_key UNIQUE;

-- A click answered from a bucket names the trace it used and that trace's age; traces made ahead are recorded
-- with source 'ahead'.
ALTER TABLE traces ADD COLUMN ahead_trace_id uuid;
ALTER TABLE traces ADD COLUMN ahead_age_ms integer;
ALTER TABLE traces DROP CONSTRAINT traces_source_known;
ALTER TABLE traces ADD CONSTRAINT traces_source_known CHECK (source IN ('click', 'postback', 'pairs', 'ahead'));
ALTER TABLE traces DROP CONSTRAINT traces_outcome_known;
ALTER TABLE traces ADD CONSTRAINT traces_outcome_known CHECK (outcome IN ('final', 'final_ahead', 'fallback_timeout',
    'fallback_error', 'fallback_no_egress', 'fallback_ahead_empty', 'fallback_bot', 'beacon', 'traced', 'failed'));
CREATE INDEX traces_ahead_trace_idx ON traces (ahead_trace_id) WHERE ahead_trace_id IS NOT NULL;
