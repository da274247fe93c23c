"""Health timing comes from the shelf; on a provisioned VM or instance the checks are patient."""

from __future__ import annotations

from tests.helpers.documents import parse_yaml
from tm351vce.compose.render import PATIENT_INTERVAL_S, PATIENT_TIMEOUT_S, StackOptions, render_compose
from tm351vce.provision.bundle import HostSettings, host_bundle
from tm351vce.shelf.catalogue import load_shelf

SHELF = load_shelf()
RECIPE = SHELF.recipe("jupyter-postgres")


def seconds(text: str) -> float:
    return float(text.removesuffix("s"))


def test_a_local_stack_checks_as_often_as_the_shelf_says():
    services = render_compose(SHELF, RECIPE, StackOptions.for_host(SHELF, None, None))["services"]
    for app in SHELF.apps_of(RECIPE):
        check = services[app.name]["healthcheck"]
        assert seconds(check["interval"]) == app.healthcheck.interval_s
        assert seconds(check["timeout"]) == app.healthcheck.timeout_s


def test_a_provisioned_host_checks_less_often_and_waits_longer():
    # An emulated VM spends seconds on each check's exec: checks every second starved it (gateway unhealthy).
    bundle = {file.name: file.content for file in host_bundle(SHELF, RECIPE, HostSettings())}
    services = parse_yaml(bundle["compose.yaml"])["services"]
    for app in SHELF.apps_of(RECIPE):
        check = services[app.name]["healthcheck"]
        assert seconds(check["interval"]) >= PATIENT_INTERVAL_S
        assert seconds(check["timeout"]) >= PATIENT_TIMEOUT_S
        assert seconds(check["start_period"]) == app.healthcheck.start_period_s
