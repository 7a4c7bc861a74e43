"""Use cases: load rows, apply domain rules, persist, commit, enqueue jobs."""
