"""The CLI picks one Host from --provider; what a host does not offer gets one uniform line and exit 2."""

from __future__ import annotations

import pytest

from tm351vce.ami.host import AwsHost
from tm351vce.hosts.base import Host, NotOffered, Started
from tm351vce.hosts.local import LocalHost
from tm351vce.shelf.catalogue import load_shelf
from tm351vce.vagrant.host import VagrantHost
from tm351vce.vagrant.options import Provider

SHELF = load_shelf()


@pytest.mark.parametrize(
    ("args", "instead"),
    [
        (["status", "--provider", "vagrant"], "run `vagrant status` in the machine's folder"),
        (["stop", "--provider", "vagrant"], "run `vagrant halt` in the machine's folder"),
        (["down", "--provider", "vagrant"], "run `vagrant destroy` in the machine's folder"),
        (["password", "--reset", "--provider", "vagrant"], "`password` without --reset prints it"),
        (["password", "--reset", "--provider", "aws"], "`password --provider aws` without --reset prints it"),
        (["backup", "--provider", "aws"], "download your files from Jupyter"),
        (["restore", "x.tar.gz", "--provider", "aws"], "download your files from Jupyter"),
    ],
)
def test_an_operation_a_host_does_not_offer_says_what_to_do_instead(cli_in_process, args, instead):
    result = cli_in_process(*args)
    assert result.returncode == 2, result.stderr
    assert "is not offered for a stack on" in result.stderr and instead in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_every_host_offers_the_same_operations():
    operations = ("up", "status", "stop", "down", "password", "stack_access", "password_command")
    for kind in (LocalHost, VagrantHost, AwsHost):
        assert issubclass(kind, Host)
        assert all(callable(getattr(kind, name)) for name in operations)


def test_the_base_host_refuses_with_the_uniform_message():
    host = VagrantHost(SHELF, Provider.libvirt)
    with pytest.raises(NotOffered, match=r"^`stop` is not offered for a stack on a Vagrant machine \(libvirt\): "):
        host.stop()


def test_the_password_hint_names_the_host():
    assert LocalHost(SHELF).password_command() == "python3 tasks.py password"
    assert "--provider vagrant --vm docker" in VagrantHost(SHELF, Provider.docker).password_command()
    assert "--provider aws --student ann" in AwsHost(SHELF, student="ann").password_command()


def test_up_without_a_recipe_asks_each_host_for_the_shelfs_default(monkeypatch):
    import tm351vce.ami.student_commands as student_commands
    import tm351vce.hosts.local as local

    asked = []
    started = Started("http://127.0.0.1:1/")
    monkeypatch.setattr(local, "up", lambda shelf, recipe, *rest: asked.append(recipe.name) or started)
    assert LocalHost(SHELF).up(None).url == "http://127.0.0.1:1/"

    def launched(shelf, recipe, *rest, **options):
        asked.append(recipe.name)
        raise NotOffered("a test", "up", "stop here")

    monkeypatch.setattr(student_commands, "up", launched)
    with pytest.raises(NotOffered):
        AwsHost(SHELF).up(None)
    assert asked == [SHELF.default_recipe.name] * 2
