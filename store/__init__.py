"""Redis and PostgreSQL access for the gateway. Never imports `gateway`."""
