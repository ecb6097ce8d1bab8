"""Traces made ahead of the clicks: the buckets of fresh traces clicks and the suffix feed take from (`buckets`),
the filler that keeps them at depth at the rate clicks drain them (`filler`), the suffix feed for Google Ads
(`feed`) and the Google Ads script that reads it (`script`). The Redis side is `store.buckets`."""
