"""Container images: the builder, base images made from Debian's archive, and registry pushes; one folder per image."""
