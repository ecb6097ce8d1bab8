-- What followed a trace is a closed vocabulary (gateway.tracing.outcomes.TracedBy): "http, no browser" was free
-- text with its reason in it, now a value of its own (the reason is in the log and the metrics).
UPDATE traces SET tracer = 'http-no-browser' WHERE tracer LIKE 'http (%';
ALTER TABLE traces ADD CONSTRAINT traces_tracer_known
    CHECK (tracer IN ('http', 'browser', 'http+browser', 'http-no-browser'));
