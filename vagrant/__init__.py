"""Vagrant machines: Vagrantfiles for each provider, the Vagrant host, and VM releases."""
