"""VM releases: a Debian 12 disk image built from Debian's archive with the stack preloaded, as Vagrant boxes."""
