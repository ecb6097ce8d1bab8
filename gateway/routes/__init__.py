"""Bottle apps, one per concern; each route parses, calls one domain function and renders."""
