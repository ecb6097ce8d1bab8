"""Tracing: following an affiliate chain as a browser would (`tracer`, with `navigation`, `urls`, `params` and
the `ssrf` guard), the record every trace leaves (`records`), and the one path every trace takes, for clicks,
pair updates and pair creation alike: lease a slot, trace, release it, record (`runner`)."""
