-- Pair creation traces an offer without a final_url through the same path as clicks and postbacks, and leaves a
-- record like them: its source is 'pairs'.
ALTER TABLE traces DROP CONSTRAINT traces_source_known;
ALTER TABLE traces ADD CONSTRAINT traces_source_known CHECK (source IN ('click', 'postback', 'pairs'));
