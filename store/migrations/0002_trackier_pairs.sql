-- Campaign pairs are stored as soon as their outbound (URL2) campaign exists, so that a failure before the
-- inbound (URL1) campaign is created loses nothing: such a pair is incomplete until a later run adds URL1.
-- Webhook tokens are looked up by their SHA-256 and then compared in constant time.
-- Webhook events remember when a worker claimed them, so maintenance can take back those a dead process held.

ALTER TABLE pairs ALTER COLUMN url1_campaign_id DROP NOT NULL;
ALTER TABLE pairs ALTER COLUMN template DROP NOT NULL;
ALTER TABLE pairs ADD COLUMN token_hash bytea;
UPDATE pairs SET token_hash = sha256(convert_to(webhook_token, 'UTF8'));
ALTER TABLE pairs ALTER COLUMN token_hash SET NOT NULL;
ALTER TABLE pairs ADD CONSTRAINT pairs_token_hash_key UNIQUE (token_hash);
ALTER TABLE pairs ADD CONSTRAINT pairs_complete_together CHECK ((url1_campaign_id IS NULL) = (template IS NULL));

ALTER TABLE webhook_events ADD COLUMN claimed_at timestamptz;
CREATE INDEX webhook_events_click_idx ON webhook_events (pair_id, click_id) WHERE click_id IS NOT NULL;
