"""A recipe renders to a Compose v2 project that `docker compose config` accepts."""

from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path

import pytest

from tests.helpers.documents import dump_yaml, parse_yaml
from tm351vce.compose.flavour import HOST, LOCAL, PORTABLE, SECRETS_SERVICE, SWARM, Limits, SecretDelivery
from tm351vce.compose.render import StackOptions, entrance_url, render_compose
from tm351vce.hosts.student_folder import StudentFolder
from tm351vce.shelf.catalogue import SHELF_PATH, load_shelf
from tm351vce.shelf.serialise import to_yaml

OPTIONS = StackOptions(data_dir=Path("/home/ada/TM351VCE"), port=40123, host="127.0.0.1", uid=1234, gid=999)


@pytest.fixture
def two_app_shelf(tmp_path):
    """The shipped shelf plus an app that needs another, in a recipe of both."""
    data = parse_yaml(SHELF_PATH.read_text())
    helper = copy.deepcopy(data["apps"]["jupyter"])
    helper.update(path=None, host_user=False, secrets=[], token_secret=None, capabilities=[], memory_mib=64)
    helper.pop("budget_mib")
    helper["volumes"] = [{"kind": "database", "source": "helper-data", "target": "/var/lib/helper"}]
    data["apps"]["helper"] = helper
    data["apps"]["needy"] = {**copy.deepcopy(helper), "needs": ["helper"], "volumes": []}
    data["recipes"]["with-helper"] = {
        "description": "test",
        "apps": ["gateway", "jupyter", "needy", "helper"],
        "entrance": "gateway",
    }
    path = tmp_path / "shelf.yaml"
    path.write_text(dump_yaml(data))
    return load_shelf(path)


def render_default() -> dict:
    shelf = load_shelf()
    return render_compose(shelf, shelf.recipe("jupyter"), OPTIONS)


def test_project_service_image_and_limits():
    document = render_default()
    shelf = load_shelf()
    assert document["name"] == "tm351"
    service = document["services"]["jupyter"]
    assert service["image"] == f"tm351/jupyter:{shelf.version}"
    assert service["mem_limit"] == f"{shelf.apps['jupyter'].memory_mib}m"
    assert service["healthcheck"]["test"] == shelf.apps["jupyter"].healthcheck.test
    assert service["healthcheck"]["interval"].endswith("s")


def test_only_the_gateway_is_published_on_the_chosen_host_and_port():
    services = render_default()["services"]
    assert services["gateway"]["ports"] == [
        {"target": 8080, "published": "40123", "host_ip": "127.0.0.1", "protocol": "tcp"}
    ]
    assert [name for name, service in services.items() if "ports" in service] == ["gateway"]


def render_postgres(expose_db: bool = False) -> dict:
    shelf = load_shelf()
    options = StackOptions(data_dir=OPTIONS.data_dir, port=OPTIONS.port, host="0.0.0.0", expose_db=expose_db)  # noqa: S104
    return render_compose(shelf, shelf.recipe("jupyter-postgres"), options)


def test_databases_are_published_only_with_expose_db_and_only_on_loopback():
    assert "ports" not in render_postgres()["services"]["postgres"]
    ports = render_postgres(expose_db=True)["services"]["postgres"]["ports"]
    # The door that refuses the course's logins, not the port the stack's own clients use.
    assert ports == [{"target": 5433, "published": "35432", "host_ip": "127.0.0.1", "protocol": "tcp"}]


def test_jupyter_gets_the_courses_database_login_and_none_of_the_installs_secrets():
    document = render_postgres()
    environment = document["services"]["jupyter"]["environment"]
    assert environment["DATABASE_URL"] == "postgresql://tm351:tm351@postgres:5432/tm351"
    assert (environment["PGHOST"], environment["PGUSER"], environment["PGPASSWORD"]) == ("postgres", "tm351", "tm351")
    assert "postgres_password" not in document["services"]["jupyter"]["secrets"]
    assert "postgres_password" in document["services"]["postgres"]["secrets"]
    assert "PGHOST" not in render_default()["services"]["jupyter"]["environment"]
    folder = StudentFolder(OPTIONS.data_dir)
    assert set(document["secrets"]) == {"password", "jupyter_token", "postgres_password"}
    assert all(entry["file"].startswith(str(folder.secrets_dir)) for entry in document["secrets"].values())


def test_jupyter_forwards_its_localhost_ports_to_the_recipes_databases_only():
    """Course notebooks connect to localhost:5432 and localhost:27017."""
    forwards = {
        name: render_recipe(name)["services"]["jupyter"]["environment"].get("TM351_LOCAL_FORWARDS")
        for name in ("jupyter", "jupyter-postgres", "jupyter-mongo", "tm351")
    }
    assert forwards == {
        "jupyter": None,
        "jupyter-postgres": "5432=postgres:5432",
        "jupyter-mongo": "27017=mongodb:27017",
        # OpenRefine, which sleeps, through the gateway's door to it, which wakes it.
        "tm351": "5432=postgres:5432 27017=mongodb:27017 3333=gateway:3333",
    }
    assert "TM351_LOCAL_FORWARDS" not in render_recipe("tm351")["services"]["dashboard"].get("environment", {})


def test_gateway_routes_to_each_ui_and_presents_jupyters_token():
    document = render_default()
    gateway = document["services"]["gateway"]
    assert gateway["secrets"] == ["password", "jupyter_token"]
    # In its environment, not a config's content, which Compose cannot give a read-only container.
    assert "configs" not in gateway and "configs" not in document and gateway["read_only"] is True
    routes = gateway["environment"]["GATEWAY_ROUTES"]
    assert "location /jupyter/ {" in routes
    assert "http://jupyter:8888" in routes
    assert "include /run/gateway/token-jupyter_token.conf;" in routes
    assert "proxy_set_header X-TM351-Login $$tm351_token_jupyter_token;" in routes
    assert "auth_basic_user_file /run/gateway/htpasswd;" in routes
    assert "return 302 /jupyter/;" in routes
    assert "$$upstream" in routes  # nginx variables survive Compose interpolation


def test_student_folder_is_bound_and_state_is_a_named_volume():
    document = render_default()
    mounts = document["services"]["jupyter"]["volumes"]
    assert {"type": "bind", "source": "/home/ada/TM351VCE", "target": "/srv/TM351VCE"} in mounts
    named = [mount["source"] for mount in mounts if mount["type"] == "volume"]
    assert named
    assert set(named) <= set(document["volumes"])


def test_host_user_and_catalogue_fields_reach_the_environment():
    environment = render_default()["services"]["jupyter"]["environment"]
    assert environment["NB_UID"] == "1234"
    assert environment["NB_GID"] == "999"
    assert environment["JUPYTER_BASE_URL"] == "/jupyter/"
    assert environment["JUPYTER_PORT"] == "8888"


def test_labels_oci_and_project():
    labels = render_default()["services"]["jupyter"]["labels"]
    assert labels["org.tm351.app"] == "jupyter"
    assert labels["org.tm351.project"] == "tm351"
    assert labels["org.tm351.recipe"] == "jupyter"
    assert labels["org.opencontainers.image.version"] == load_shelf().version
    assert labels["org.tm351.url"] == "http://127.0.0.1:40123/jupyter/"


def test_token_is_a_secret_file_in_the_student_folder():
    document = render_default()
    assert document["services"]["jupyter"]["secrets"] == ["jupyter_token"]
    assert document["secrets"]["jupyter_token"]["file"] == "/home/ada/TM351VCE/.tm351/jupyter_token"


def test_the_install_secrets_folder_is_hidden_from_the_container_that_mounts_the_whole_student_folder():
    services = render_recipe("tm351")["services"]
    masks = {
        name: [mount for mount in service.get("volumes", []) if mount["type"] == "tmpfs" and mount.get("read_only")]
        for name, service in services.items()
    }
    assert masks["jupyter"] == [
        {"type": "tmpfs", "target": "/srv/TM351VCE/.tm351", "read_only": True, "tmpfs": {"size": 4096}}
    ]
    assert not any(masks[name] for name in masks if name != "jupyter")  # the others see no more than a subfolder
    for flavour, secrets_root, masked in [(PORTABLE, None, True), (HOST, Path("/opt/tm351/secrets"), False),
                                          (SWARM, None, False)]:  # fmt: skip
        options = StackOptions(Path("/srv/TM351VCE"), 1, "127.0.0.1", secrets_root=secrets_root, flavour=flavour)
        jupyter = render_compose(load_shelf(), load_shelf().recipe("jupyter"), options)["services"]["jupyter"]
        assert any(mount["type"] == "tmpfs" for mount in jupyter["volumes"]) == masked, flavour.name


def test_apps_that_allow_it_run_on_a_read_only_root_with_bounded_scratch_space_in_every_flavour():
    shelf = load_shelf()
    for flavour in (LOCAL, PORTABLE, HOST, SWARM):
        options = StackOptions(Path("/srv/TM351VCE"), 1, "127.0.0.1", flavour=flavour)
        services = render_compose(shelf, shelf.recipe("tm351"), options)["services"]
        for name, service in services.items():
            if name == SECRETS_SERVICE:
                continue
            app = shelf.apps[name]
            scratch = {m["target"]: m["tmpfs"]["size"] for m in service.get("volumes", [])
                       if m["type"] == "tmpfs" and not m.get("read_only")}  # fmt: skip
            if app.writable is None:
                assert "read_only" not in service and not scratch, (flavour.name, name)
            else:
                assert service["read_only"] is True, (flavour.name, name)
                assert scratch == {path: mib << 20 for path, mib in app.writable.items()}, (flavour.name, name)
    read_only = sorted(name for name, app in shelf.apps.items() if app.writable is not None)
    assert read_only == ["dashboard", "gateway", "mongodb", "postgres"]  # jupyter and OpenRefine remap their user


def test_every_container_has_a_process_limit_and_a_rotated_log():
    shelf = load_shelf()
    for flavour in (LOCAL, HOST, PORTABLE, SWARM):
        options = StackOptions(data_dir=Path("/home/ada/TM351VCE"), port=40123, host="127.0.0.1", flavour=flavour)
        for name, service in render_compose(shelf, shelf.recipe("tm351"), options)["services"].items():
            assert service["logging"] == {"driver": "json-file", "options": {"max-size": "10m", "max-file": "3"}}
            if flavour.limits is Limits.COMPOSE and name in shelf.apps:
                assert service["pids_limit"] == shelf.apps[name].pids_limit >= 32, name
    assert shelf.apps["jupyter"].pids_limit >= 1024


def test_services_drop_capabilities():
    service = render_default()["services"]["jupyter"]
    assert service["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in service["security_opt"]


def test_needed_apps_are_waited_for_until_healthy(two_app_shelf):
    document = render_compose(two_app_shelf, two_app_shelf.recipe("with-helper"), OPTIONS)
    assert document["services"]["needy"]["depends_on"] == {"helper": {"condition": "service_healthy"}}
    assert "depends_on" not in document["services"]["jupyter"]
    assert "ports" not in document["services"]["helper"]
    assert "helper-data" in document["volumes"]


def test_dollar_signs_stay_literal():
    shelf = load_shelf()
    options = StackOptions(data_dir=Path("/home/$USER/x"), port=35180, host="127.0.0.1")
    document = render_compose(shelf, shelf.recipe("jupyter"), options)
    assert document["secrets"]["jupyter_token"]["file"] == "/home/$$USER/x/.tm351/jupyter_token"


@pytest.mark.parametrize("flavour", [LOCAL, HOST, PORTABLE, SWARM], ids=lambda flavour: flavour.name)
def test_each_flavour_is_one_pass_and_only_its_own_variables_stay_variables(flavour, two_app_shelf):
    """A `$` from the catalogue is escaped in every flavour; the flavour's own settings are left to Compose."""
    shelf = two_app_shelf
    shelf.apps["jupyter"].environment["GREETING"] = "costs $5 in ${CURRENCY}"
    options = StackOptions(data_dir=Path("/home/ada/TM351VCE"), port=40123, host="127.0.0.1", flavour=flavour)
    text = to_yaml(render_compose(shelf, shelf.recipe("tm351"), options))
    document = render_compose(shelf, shelf.recipe("with-helper"), options)
    jupyter = document["services"]["jupyter"]
    assert jupyter["environment"]["GREETING"] == "costs $$5 in $${CURRENCY}"
    variables = set(re.findall(r"(?<!\$)\$\{(\w+)", text))
    assert (
        variables
        == {
            "local": set(),
            "host": {"TM351_UID", "TM351_GID", "DOCKER_GID"},
            "portable": {"TM351_DATA_DIR", "TM351_PORT", "TM351_HOST", "TM351_UID", "TM351_GID", "TM351_PASSWORD"},
            "swarm": {"TM351_DATA_DIR", "TM351_PORT", "TM351_UID", "TM351_GID"},
        }[flavour.name]
    )
    assert ("name" in document) == flavour.named
    assert ("mem_limit" in jupyter) == (flavour.limits is Limits.COMPOSE)
    assert ("deploy" in jupyter) == (flavour.limits is Limits.SWARM)
    needy = document["services"]["needy"]
    assert needy["depends_on"] == (
        ["helper"] if flavour.limits is Limits.SWARM else {"helper": {"condition": "service_healthy"}}
    )
    assert (SECRETS_SERVICE in document["services"]) == (flavour.secrets is SecretDelivery.MADE_ON_START)


def test_url_uses_the_entrance_path():
    shelf = load_shelf()
    assert entrance_url(shelf, shelf.recipe("jupyter"), OPTIONS) == "http://127.0.0.1:40123/jupyter/"


@pytest.mark.needs("docker", "compose")
def test_docker_compose_accepts_every_recipe(tmp_path):
    shelf = load_shelf()
    for recipe in shelf.recipes.values():
        text = to_yaml(render_compose(shelf, recipe, OPTIONS))
        checked = subprocess.run(
            ["docker", "compose", "-f", "-", "config", "-q"], input=text, capture_output=True, text=True, check=False
        )
        assert checked.returncode == 0, f"{recipe.name}: {checked.stderr}"


def test_only_the_dashboard_gets_the_docker_socket_as_the_host_user(tmp_path):
    socket_file = tmp_path / "docker.sock"
    socket_file.write_text("")
    shelf = load_shelf()
    options = StackOptions(
        data_dir=OPTIONS.data_dir, port=1, host="127.0.0.1", uid=1234, gid=999, docker_socket=socket_file
    )
    services = render_compose(shelf, shelf.recipe("jupyter-postgres"), options)["services"]
    for name, service in services.items():
        mounts = [mount.get("source") for mount in service.get("volumes", [])]
        assert (str(socket_file) in mounts) == (name == "dashboard"), name
    dashboard = services["dashboard"]
    assert dashboard["user"] == "1234:999"
    assert dashboard["group_add"] == [str(socket_file.stat().st_gid)]
    assert dashboard["environment"]["TM351_PROJECT"] == "tm351"
    assert dashboard["labels"]["org.tm351.essential"] == "true"
    assert "org.tm351.essential" not in services["jupyter"]["labels"]


def test_the_gateway_passes_the_login_on_only_to_apps_that_check_it():
    routes = render_default()["services"]["gateway"]["environment"]["GATEWAY_ROUTES"]
    dashboard = routes.split("location /dashboard/ {")[1].split("}")[0]
    jupyter = routes.split("location /jupyter/ {")[1].split("}")[0]
    assert 'Authorization ""' not in dashboard
    # Jupyter gets the student's login vouched for, never the password nor a token on every request.
    assert "proxy_set_header Authorization $$tm351_token_authorization;" in jupyter
    assert "token-jupyter_token.conf" in jupyter
    assert 'Authorization "token' not in routes


def render_recipe(name: str) -> dict:
    shelf = load_shelf()
    return render_compose(shelf, shelf.recipe(name), OPTIONS)


def test_the_whole_stack_has_every_app_and_only_the_gateway_published():
    services = render_recipe("tm351")["services"]
    assert set(services) == set(load_shelf().apps)
    assert [name for name, service in services.items() if "ports" in service] == ["gateway"]


def test_openrefine_keeps_projects_in_the_student_folder_and_is_routed_without_its_path():
    document = render_recipe("tm351")
    openrefine = document["services"]["openrefine"]
    assert {
        "type": "bind",
        "source": "/home/ada/TM351VCE/openrefine_projects",
        "target": "/srv/TM351VCE/openrefine_projects",
    } in openrefine["volumes"]
    assert openrefine["stop_grace_period"] == "60s"
    assert openrefine["environment"]["NB_UID"] == "1234"
    routes = document["services"]["gateway"]["environment"]["GATEWAY_ROUTES"]
    location = routes.split("location /openrefine/ {")[1].split("}")[0]
    assert "rewrite ^/openrefine(/.*)$$ $$1 break;" in location
    assert "proxy_redirect ~^(?:https?://[^/]+)?/(.*)$$ /openrefine/$$1;" in location
    assert 'Authorization ""' in location


def test_mongodb_has_no_login_as_the_course_runs_it_so_nothing_publishes_it():
    shelf = load_shelf()
    options = StackOptions(data_dir=OPTIONS.data_dir, port=OPTIONS.port, host=OPTIONS.host, expose_db=True)
    services = render_compose(shelf, shelf.recipe("tm351"), options)["services"]
    assert services["jupyter"]["environment"]["MONGODB_URI"] == "mongodb://mongodb:27017/tm351"
    assert "ports" not in services["mongodb"] and "secrets" not in services["mongodb"]
    # --expose-db publishes PostgreSQL's door only, which keeps the install's own login.
    assert [name for name, service in services.items() if "ports" in service] == ["gateway", "postgres"]


def test_jupyter_is_told_where_openrefine_is_only_when_the_recipe_has_it():
    # For JupyterLab's OpenRefine launcher tile (images/jupyter/jupyter_server_config.py).
    assert render_recipe("tm351")["services"]["jupyter"]["environment"]["OPENREFINE_PATH"] == "/openrefine/"
    assert "OPENREFINE_PATH" not in render_recipe("jupyter-postgres")["services"]["jupyter"]["environment"]


def test_openrefine_is_labelled_to_sleep_after_its_idle_time_or_the_one_chosen():
    shelf = load_shelf()
    services = render_recipe("tm351")["services"]
    openrefine = services["openrefine"]["labels"]
    assert openrefine["org.tm351.idle_s"] == "1800"
    assert openrefine["org.tm351.title"] == "OpenRefine"
    assert services["gateway"]["labels"]["org.tm351.gateway"] == "true"
    assert all("org.tm351.idle_s" not in services[name]["labels"] for name in services if name != "openrefine")
    chosen = StackOptions(data_dir=OPTIONS.data_dir, port=OPTIONS.port, host="127.0.0.1", idle_minutes=0.25)
    labels = render_compose(shelf, shelf.recipe("openrefine"), chosen)["services"]["openrefine"]["labels"]
    assert labels["org.tm351.idle_s"] == "15"


def test_a_sleeping_openrefine_is_woken_by_the_dashboard_and_each_request_to_it_is_marked_in_the_log():
    routes = render_recipe("tm351")["services"]["gateway"]["environment"]["GATEWAY_ROUTES"]
    assert "log_format tm351_request 'tm351-request: $$tm351_app';" in routes
    location = routes.split("location /openrefine/ {")[1].split("\n    }")[0]
    # Asleep or still starting, nothing answers: nginx's own 502 (or 504) goes to the dashboard instead.
    assert "error_page 502 504 = @wake_openrefine;" in location
    assert "error_page 429 @throttled;" in location  # the server's error_page is not inherited beside one of its own
    assert "proxy_connect_timeout 3s;" in location  # a stopped container's cached address answers nothing
    assert "access_log /dev/stdout tm351_request if=$$tm351_request_counts;" in location
    assert "access_log /dev/stdout combined if=$$tm351_logged;" in location  # the server's own line too
    # Set before the path is taken off: `rewrite ... break` ends the location's `set`s.
    assert location.index("set $$tm351_app openrefine;") < location.index("rewrite ")
    waking = routes.split("location @wake_openrefine {")[1].split("\n    }")[0]
    assert "set $$waker http://dashboard:8000;" in waking
    assert "rewrite ^ /dashboard/wake/openrefine? break;" in waking
    assert "access_log /dev/stdout tm351_request if=$$tm351_request_counts;" in waking
    assert "proxy_pass_request_body off;" in waking  # an upload to it asleep is not carried to the page
    assert "Authorization" not in waking  # the dashboard checks the student's login itself
    for location_name in ("/jupyter/", "/dashboard/"):
        assert "error_page" not in routes.split(f"location {location_name} {{")[1].split("\n    }")[0]


def test_the_gateway_opens_a_door_without_login_to_a_sleeping_app_only_for_the_stacks_clients():
    """A notebook's OpenRefine client at localhost:3333 holds no password; nothing publishes the door's port."""
    rendered = render_recipe("tm351")["services"]
    routes = rendered["gateway"]["environment"]["GATEWAY_ROUTES"]
    door = routes.split("    listen 3333;")[1]
    assert "auth_basic" not in door
    assert "client_body_timeout 180s;" in door  # a body waits while the dashboard wakes the app
    assert 'if ($$host !~ "^(localhost|127\\.0\\.0\\.1|\\[::1\\])$$") {' in door  # a rebound page's name is refused
    location = door.split("location / {")[1].split("\n    }")[0]
    assert "set $$upstream http://openrefine:3333;" in location
    assert "error_page 502 504 = @ready_openrefine;" in location
    assert "access_log /dev/stdout tm351_request if=$$tm351_request_counts;" in location  # counted as its use
    assert "proxy_request_buffering off;" in location  # uploads stream on, never into the gateway's /tmp
    ready = door.split("location @ready_openrefine {")[1].split("\n    }")[0]
    assert "rewrite ^ /dashboard/ready/openrefine? break;" in ready
    assert "proxy_set_header X-TM351-Retry $$request_uri;" in ready
    assert "proxy_pass_request_body off;" in ready
    assert rendered["gateway"]["ports"] == render_recipe("jupyter")["services"]["gateway"]["ports"]
    # OpenRefine on its own has no client in the stack, so no door.
    assert "listen 3333;" not in render_recipe("openrefine")["services"]["gateway"]["environment"]["GATEWAY_ROUTES"]


def test_a_recipe_without_a_sleeping_app_defines_no_request_marks():
    """nginx refuses a log format whose variable no location sets."""
    routes = render_default()["services"]["gateway"]["environment"]["GATEWAY_ROUTES"]
    assert "tm351_request" not in routes and "tm351_app" not in routes and "@wake" not in routes


def test_the_gateway_and_the_dashboard_agree_on_the_marks_and_labels_of_sleeping_apps():
    from tm351vce.compose.gateway import READY_TIMEOUT_S, REQUEST_MARK
    from tm351vce.images.dashboard.tm351_dashboard import app, services, sleep
    from tm351vce.shelf import labels
    from tm351vce.shelf.constants import READY_RETRY_HEADER

    assert sleep.REQUEST_MARK == REQUEST_MARK
    assert app.RETRY_HEADER == READY_RETRY_HEADER
    assert app.READY_BOUND_S < READY_TIMEOUT_S  # the dashboard says it gave up before the gateway does
    assert (services.IDLE_LABEL, services.TITLE_LABEL) == (labels.IDLE_S, labels.TITLE)
    assert sleep.GATEWAY_LABEL == labels.GATEWAY
