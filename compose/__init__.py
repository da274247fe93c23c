"""Compose rendering: a recipe as a Compose project (local, portable, Swarm), gateway routes, the published shelf."""
