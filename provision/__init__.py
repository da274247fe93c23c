"""Provisioning a Debian 12 host: the bundle, cloud-init user-data, scripts and systemd units."""
