"""Compose rendering: a recipe as a Compose project in each flavour (local, host, portable, Swarm),
gateway routes, the published shelf."""
