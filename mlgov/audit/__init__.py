"""Append-only, hash-chained audit log: platform events in `public`, tenant events per schema."""
