"""Host provisioning as rendered data: the cloud-init user-data, the host's Compose project, registry digests and
the Vagrantfiles, with one-line errors for what a user can get wrong."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import tarfile

import pytest

from tests.helpers.documents import parse_yaml
from tm351vce.images.registry import check_registry, pinned_images
from tm351vce.provision.bundle import PROVISION_DIR, HostSettings, host_bundle
from tm351vce.provision.cloud_init import USER_DATA_LIMIT, render_cloud_config, to_user_data
from tm351vce.shelf.catalogue import load_shelf
from tm351vce.shelf.constants import HOST_DATA_DIR, INSTALL_DIR, SERVICE_UID, SERVICE_USER, STATE_DIR
from tm351vce.shelf.errors import UsageProblem
from tm351vce.vagrant.render import AwsOptions, Provider, VagrantOptions, render_vagrant, vm_memory_mib

SHELF = load_shelf()
REGISTRY = "registry.example.org:5000/ou"


def decoded_files(user_data: str) -> dict[str, str]:
    (entry,) = parse_yaml(user_data)["write_files"]
    assert (entry["path"], entry["encoding"]) == ("/opt/tm351/bundle.tar.gz", "b64")
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(entry["content"])), mode="r:gz") as archive:
        return {member.name: archive.extractfile(member).read().decode() for member in archive.getmembers()}


@pytest.mark.parametrize("recipe", list(SHELF.recipes))
def test_user_data_fits_ec2_and_carries_the_whole_bundle(recipe):
    files = host_bundle(SHELF, SHELF.recipe(recipe), HostSettings())
    user_data = to_user_data(render_cloud_config(files))
    assert user_data.startswith("#cloud-config\n")
    assert len(user_data.encode()) <= USER_DATA_LIMIT
    assert decoded_files(user_data) == {file.name: file.content for file in files}
    (command,) = parse_yaml(user_data)["runcmd"]
    assert command[-1].endswith("&& exec /opt/tm351/provision.sh")


def test_the_bundle_unpacks_with_each_files_mode_before_provision_runs(tmp_path):
    """The runcmd's own steps, but for provision.sh itself (which would provision this machine), in a folder here."""
    files = host_bundle(SHELF, SHELF.recipe("jupyter"), HostSettings())
    user_data = to_user_data(render_cloud_config(files)).replace("/opt/tm351", str(tmp_path))
    (entry,) = parse_yaml(user_data)["write_files"]
    (tmp_path / "bundle.tar.gz").write_bytes(base64.b64decode(entry["content"]))
    ((_, _, command),) = parse_yaml(user_data)["runcmd"]
    *steps, provision = command.split(" && ")
    assert provision == f"exec {tmp_path}/provision.sh"
    assert subprocess.run(["sh", "-c", " && ".join(steps)], check=False).returncode == 0
    assert not (tmp_path / "bundle.tar.gz").exists()
    for file in files:
        unpacked = tmp_path / file.name
        assert unpacked.read_text() == file.content
        assert unpacked.stat().st_mode & 0o777 == file.mode


def test_power_off_only_when_baking_and_only_after_success():
    files = host_bundle(SHELF, SHELF.recipe("jupyter"), HostSettings())
    assert "power_state" not in render_cloud_config(files)
    power_state = render_cloud_config(files, power_off=True)["power_state"]
    assert power_state["mode"] == "poweroff"
    # A failed provisioning leaves the machine running, so a broken host is never imaged.
    assert power_state["condition"] == "test -f /var/lib/tm351/provisioned"


def test_an_image_bundle_makes_no_secrets_and_starts_nothing_until_first_boot():
    settings = {file.name: file.content for file in host_bundle(SHELF, SHELF.recipe("jupyter"), HostSettings())}
    assert "TM351_FOR_IMAGE=''" in settings["settings.env"]
    for_image = {
        file.name: file.content for file in host_bundle(SHELF, SHELF.recipe("jupyter"), HostSettings(for_image=True))
    }
    assert "TM351_FOR_IMAGE=yes" in for_image["settings.env"]
    # The unit makes missing secrets as root before every start, so an image's first boot gets its own.
    assert "ExecStartPre=+/opt/tm351/secrets.sh" in for_image["tm351.service"]
    assert "secrets.sh" in for_image


@pytest.mark.needs("docker", "compose")
def test_the_host_project_leaves_the_hosts_own_ids_to_its_env_file(tmp_path):
    files = {file.name: file.content for file in host_bundle(SHELF, SHELF.recipe("tm351"), HostSettings())}
    project = parse_yaml(files["compose.yaml"])
    assert project["services"]["dashboard"]["user"] == "${TM351_UID}:${TM351_GID}"
    assert project["services"]["dashboard"]["group_add"] == ["${DOCKER_GID}"]
    assert project["services"]["jupyter"]["environment"]["NB_UID"] == "${TM351_UID}"
    assert all(secret["file"].startswith("/opt/tm351/secrets/") for secret in project["secrets"].values())
    assert project["services"]["gateway"]["ports"][0]["host_ip"] == "0.0.0.0"  # noqa: S104 - inside the VM
    (tmp_path / "compose.yaml").write_text(files["compose.yaml"])
    (tmp_path / ".env").write_text("TM351_UID=3510\nTM351_GID=3510\nDOCKER_GID=998\n")
    config = subprocess.run(
        ["docker", "compose", "--project-directory", str(tmp_path), "-f", str(tmp_path / "compose.yaml"),
         "config", "--format", "json"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert config.returncode == 0, config.stderr
    resolved = json.loads(config.stdout)
    assert resolved["services"]["dashboard"]["user"] == "3510:3510"
    assert resolved["services"]["dashboard"]["group_add"] == ["998"]


def test_settings_name_every_secret_and_the_student_folders():
    files = {file.name: file.content for file in host_bundle(SHELF, SHELF.recipe("jupyter-postgres"), HostSettings())}
    settings = dict(line.split("=", 1) for line in files["settings.env"].splitlines())
    assert "postgres_password" in settings["TM351_SECRETS"]
    assert "notebooks" in settings["TM351_FOLDERS"]
    assert settings["TM351_IMAGES_ARCHIVE"] == "images.tar"


def test_images_pinned_by_digest_reach_the_host_with_their_registry_ca(tmp_path):
    lock = tmp_path / "images.lock.json"
    apps = SHELF.apps_of(SHELF.recipe("jupyter"))
    lock.write_text(
        json.dumps(
            {f"{REGISTRY}/{app.image}:{SHELF.version}": f"{REGISTRY}/{app.image}:0@sha256:{'a' * 64}" for app in apps}
        )
    )
    images = pinned_images(SHELF, apps, REGISTRY, lock)
    settings = HostSettings(images=images, registry_ca="-----BEGIN CERTIFICATE-----\n")
    files = {file.name: file.content for file in host_bundle(SHELF, SHELF.recipe("jupyter"), settings)}
    project = parse_yaml(files["compose.yaml"])
    assert all("@sha256:" in service["image"] for service in project["services"].values())
    assert "TM351_REGISTRY_HOST=registry.example.org:5000" in files["settings.env"]
    assert "TM351_IMAGES_ARCHIVE=''" in files["settings.env"]
    assert files["registry-ca.crt"].startswith("-----BEGIN CERTIFICATE-----")


def test_an_unpushed_image_names_the_push_command(tmp_path):
    with pytest.raises(UsageProblem, match=r"python3 tasks\.py push gateway --registry"):
        pinned_images(SHELF, SHELF.apps_of(SHELF.recipe("jupyter")), REGISTRY, tmp_path / "none.json")


@pytest.mark.parametrize("registry", ["https://ghcr.io/ou", "Registry.Example/ou", "host:port/x", ""])
def test_a_registry_with_a_scheme_or_capitals_is_refused(registry):
    with pytest.raises(UsageProblem, match="HOST\\[:PORT\\]/NAMESPACE"):
        check_registry(registry)


def test_render_cloud_init_from_the_cli_and_its_errors(cli_in_process, tmp_path):
    rendered = cli_in_process("render", "jupyter", "--target", "cloud-init", "--power-off")
    assert rendered.returncode == 0, rendered.stderr
    assert parse_yaml(rendered.stdout)["power_state"]["mode"] == "poweroff"

    unpushed = cli_in_process("render", "jupyter", "--target", "cloud-init", "--registry", REGISTRY,
                   env={"XDG_CACHE_HOME": str(tmp_path)})  # fmt: skip
    assert unpushed.returncode == 2
    assert "push it first" in unpushed.stderr and "Traceback" not in unpushed.stderr

    ca_alone = cli_in_process("render", "jupyter", "--target", "cloud-init", "--registry-ca", str(tmp_path))
    assert ca_alone.returncode == 2
    assert "--registry" in ca_alone.stderr


def test_the_vm_gets_the_recipes_budget_and_the_systems():
    assert vm_memory_mib(SHELF, SHELF.recipe("jupyter")) >= SHELF.budget_mib(SHELF.recipe("jupyter")) + 512
    # OpenRefine opened beside the rest: the VM is sized for it awake.
    assert vm_memory_mib(SHELF, SHELF.recipe("tm351")) >= SHELF.peak_budget_mib(SHELF.recipe("tm351")) + 512
    assert vm_memory_mib(SHELF, SHELF.recipe("tm351")) % 256 == 0


def test_a_vm_or_instance_leaves_openrefine_asleep_as_local_docker_does():
    """The unit makes the apps that start on demand without starting them, then starts and waits for the rest: on a
    1 GiB instance OpenRefine would otherwise hold its memory from boot, awake or not."""
    unit = {file.name: file.content for file in host_bundle(SHELF, SHELF.recipe("tm351"), HostSettings())}[
        "tm351.service"
    ]
    lines = unit.splitlines()
    made = lines.index(f"ExecStartPre={INSTALL_DIR}/compose.sh up --no-start openrefine")
    started = lines.index(
        f"ExecStart={INSTALL_DIR}/compose.sh up --detach --wait --wait-timeout 300 --remove-orphans "
        "gateway jupyter postgres mongodb dashboard"
    )
    assert lines.index(f"ExecStartPre=+{INSTALL_DIR}/tls.sh") < made < started
    alone = {file.name: file.content for file in host_bundle(SHELF, SHELF.recipe("jupyter"), HostSettings())}
    assert "--no-start" not in alone["tm351.service"]
    assert "--remove-orphans gateway jupyter dashboard\n" in alone["tm351.service"]


def test_vagrantfile_strings_are_literal_ruby(tmp_path):
    student = tmp_path / "it's #{`id`}"
    options = VagrantOptions(
        provider=Provider.aws,
        out_dir=tmp_path / "vm",
        data_dir=student,
        port=35180,
        settings=HostSettings(images={"gateway": f"{REGISTRY}/tm351/gateway:0@sha256:{'b' * 64}"}),
        aws=AwsOptions(ami="ami-0123456789abcdef0", key_pair="o'brien"),
    )
    vagrantfile = render_vagrant(SHELF, SHELF.recipe("jupyter"), options).read_text()
    assert "aws.keypair_name = 'o\\'brien'" in vagrantfile
    assert '"http_tokens" => "required"' in vagrantfile
    assert (tmp_path / "vm" / "user-data").read_text().startswith("#cloud-config")


def test_aws_needs_a_registry_and_an_ami(cli_in_process, tmp_path):
    no_registry = cli_in_process(
        "vagrant", "jupyter", "--provider", "aws", "-o", str(tmp_path / "vm"), "--ami", "ami-1"
    )
    assert no_registry.returncode == 2
    assert "--registry" in no_registry.stderr


def test_no_provisioning_file_keeps_a_copy_of_a_shared_constant():
    """Scripts read the host's paths and ids from settings.env and units are rendered from the constants, so a
    changed constant reaches every file; comments may still name the paths for the reader."""
    copies = [str(INSTALL_DIR), str(STATE_DIR), str(HOST_DATA_DIR), f"={SERVICE_USER}\n", str(SERVICE_UID)]
    for path in sorted(PROVISION_DIR.glob("*.sh")) + sorted(PROVISION_DIR.glob("*.j2")):
        code = [line for line in path.read_text().splitlines(keepends=True) if not line.lstrip().startswith("#")]
        for constant in copies:
            assert not any(constant in line for line in code), f"{path.name} copies {constant.strip()}"
    unit = host_bundle(SHELF, SHELF.recipe("jupyter"), HostSettings())
    rendered = {file.name: file.content for file in unit}["tm351.service"]
    assert f"WorkingDirectory={INSTALL_DIR}\n" in rendered and f"User={SERVICE_USER}\n" in rendered
    assert f"Environment=HOME={STATE_DIR}\n" in rendered and "{{" not in rendered


def test_two_libvirt_machines_in_folders_of_the_same_name_get_their_own_domains(tmp_path):
    """vagrant-libvirt names a domain after the folder's last name: two students' `.../libvirt` folders
    would share (and one would refuse to start over the other's left-over) `libvirt_tm351`."""
    prefixes = set()
    for home in ("one", "two"):
        folder = tmp_path / home
        options = VagrantOptions(
            provider=Provider.libvirt,
            out_dir=folder / "libvirt",
            data_dir=folder / "TM351VCE",
            port=35180,
            # Images from a registry: nothing is saved from the engine into the folder.
            settings=HostSettings(images={"gateway": f"{REGISTRY}/tm351/gateway:0@sha256:{'b' * 64}"}),
        )
        vagrantfile = render_vagrant(SHELF, SHELF.recipe("jupyter"), options).read_text()
        (prefix,) = [line.split("=", 1)[1].strip() for line in vagrantfile.splitlines() if "lv.default_prefix" in line]
        prefixes.add(prefix)
    assert len(prefixes) == 2
    assert all(prefix.startswith("'tm351-jupyter-") for prefix in prefixes)
