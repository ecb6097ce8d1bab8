"""Click-tracing gateway. Import-light on purpose: entry points patch gevent before anything else loads."""

__version__ = "0.1.0"
