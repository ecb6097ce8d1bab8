"""Egress: the residential-proxy slots traces go out through. Providers and their proxy URLs (`providers`), the
inventory as operators change it (`slots`), the in-process copy leases read (`directory`), leasing and releasing
(`leases`), the pool at a glance (`census`) and how many slots a peak needs (`sizing`). The live state itself is
`store.pool` (Redis, Lua)."""
