-- One name for a slot in every layer: the inventory table is `slots`, a trace record names its `slot_id`.
ALTER TABLE egress RENAME TO slots;
ALTER TABLE traces RENAME COLUMN egress_id TO slot_id;
