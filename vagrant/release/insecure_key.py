"""Vagrant's published insecure public key, which a box must accept until Vagrant replaces it on the first `up`."""

from __future__ import annotations

import glob
from pathlib import Path

from tm351vce.shelf.errors import UsageProblem

# Where Debian's package and HashiCorp's installer put Vagrant's gem, which carries the key.
KEY_PATTERNS = (
    "/usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub",
    "/opt/vagrant/embedded/gems/gems/vagrant-*/keys/vagrant.pub",
    "/opt/vagrant/embedded/gems/*/gems/vagrant-*/keys/vagrant.pub",
)


def insecure_key(patterns: tuple[str, ...] = KEY_PATTERNS) -> Path:
    for pattern in patterns:
        found = sorted(glob.glob(pattern))
        if found:
            return Path(found[-1])
    raise UsageProblem(
        "Vagrant's insecure public key (keys/vagrant.pub in Vagrant's gem) was not found: a box must accept it "
        "for `vagrant up`; install Vagrant (e.g. `apt-get install vagrant`) and try again."
    )
