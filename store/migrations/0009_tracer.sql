-- An offer's tracer (http, browser, or auto: http first, a browser from a page that needs a script engine), and
-- on each trace record what followed it.
ALTER TABLE offers ADD COLUMN tracer text NOT NULL DEFAULT 'http';
ALTER TABLE offers ADD CONSTRAINT offers_tracer_known CHECK (tracer IN ('http', 'browser', 'auto'));
ALTER TABLE traces ADD COLUMN tracer text;
