"""Contract testing: record the real service through a proxy, replay the recordings, verify them later."""
