-- Trackier gives every campaign a numeric id and a long hashed one; its S2S push fills {campaign_id} with the
-- hashed id and {camp_id} with the numeric one. Both are kept, so route 3 can find a pair by either.
ALTER TABLE pairs ADD COLUMN url1_campaign_hash text;
ALTER TABLE pairs ADD COLUMN url2_campaign_hash text;
CREATE INDEX pairs_url1_campaign_hash_idx ON pairs (url1_campaign_hash);
CREATE INDEX pairs_url2_campaign_hash_idx ON pairs (url2_campaign_hash);
