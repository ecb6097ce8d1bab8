"""Locust scenarios and the local doubles of what lies beyond this machine (chains, proxies, Trackier)."""
