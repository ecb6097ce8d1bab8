"""The operator console at `/`: server-rendered pages over the same services as the admin API."""
