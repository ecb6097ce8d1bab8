-- Which inbound parameters a click passes on to its offer's tracking and fallback URLs (exact names, or
-- prefixes ending in '*'): by default the ad platforms' click ids and utm_*. Until now every inbound parameter
-- was appended, so a click could add one that a hop follows as its destination (to=, url=).
ALTER TABLE offers ADD COLUMN pass_through text[] NOT NULL
    DEFAULT '{gclid,gbraid,wbraid,dclid,fbclid,msclkid,ttclid,twclid,li_fat_id,yclid,utm_*}';
