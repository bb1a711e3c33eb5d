"""The simulator's own test suite (real HTTP against a started simulator process)."""
