"""Compose rendering: a recipe as a Compose project (local, portable, Swarm), the gateway's routes, the published shelf."""
