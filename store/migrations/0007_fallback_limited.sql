-- A click past its client's trace budget ([clicks] client_traces_per_minute) is answered with the fallback and
-- recorded as fallback_limited.
ALTER TABLE traces DROP CONSTRAINT traces_outcome_known;
ALTER TABLE traces ADD CONSTRAINT traces_outcome_known CHECK (outcome IN ('final', 'final_ahead', 'fallback_timeout',
    'fallback_error', 'fallback_no_egress', 'fallback_ahead_empty', 'fallback_limited', 'fallback_bot', 'beacon',
    'traced', 'failed'));
