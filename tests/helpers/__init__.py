"""Helpers shared by the unit, aws and integration tests; test modules import from here, never from each other."""
