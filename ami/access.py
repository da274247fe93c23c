"""Who may reach a student's instance: the CIDR the user gives, or their own public address (`auto`)."""

from __future__ import annotations

import ipaddress
import os

import requests

from tm351vce.shelf.errors import UsageProblem

# AWS's own echo service: it answers with the caller's public IPv4 address and nothing else.
ADDRESS_ECHO_URL = "https://checkip.amazonaws.com"
WORLD = ("0.0.0.0/0", "::/0")


def parse_cidr(text: str, option: str = "--allow-cidr") -> str:
    """A network in CIDR form ('203.0.113.7' alone means that one address); bad input names the fix."""
    try:
        network = ipaddress.ip_network(text.strip(), strict=True)
    except ValueError as problem:
        raise UsageProblem(
            f"{option} {text!r} is not a network ({problem}): give one like 203.0.113.7/32 or 198.51.100.0/24."
        ) from None
    return str(network)


def detect_public_cidr(timeout_s: float = 5) -> str:
    """This computer's public address as a /32, from an echo service; a clear message where it cannot be had."""
    url = os.environ.get("TM351_ADDRESS_ECHO_URL", ADDRESS_ECHO_URL)
    fix = "give the address the instance should accept with --allow-cidr (e.g. --allow-cidr 203.0.113.7/32)"
    try:
        answer = requests.get(url, timeout=timeout_s)
        answer.raise_for_status()
        address = ipaddress.ip_address(answer.text.strip())
    except requests.RequestException as problem:
        raise UsageProblem(
            f"Could not detect your public address ({type(problem).__name__} from {url}; a proxy may be in the way): "
            f"{fix}."
        ) from None
    except ValueError:
        raise UsageProblem(f"{url} did not answer with an address (a proxy may be in the way): {fix}.") from None
    if address.version != 4 or not address.is_global:
        raise UsageProblem(f"{url} answered {address}, which is not a public IPv4 address: {fix}.")
    return f"{address}/32"


def resolve_cidr(choice: str) -> tuple[str, bool]:
    """(the CIDR, whether it was detected) for --allow-cidr CIDR|auto."""
    if choice.strip().lower() == "auto":
        return detect_public_cidr(), True
    return parse_cidr(choice), False


def is_world(cidr: str) -> bool:
    return cidr in WORLD
