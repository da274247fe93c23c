"""Where a stack runs: the Host interface, the local Docker host, backups and the student folder."""
