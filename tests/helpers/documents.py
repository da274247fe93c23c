"""YAML as the tests read and write it: safely, and with libyaml where PyYAML was built with it (its wheels are),
which reads the same documents several times faster than PyYAML's own parser."""

from __future__ import annotations

from typing import Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def parse_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader


def dump_yaml(data: Any) -> str:
    """As yaml.safe_dump(data) writes it."""
    return yaml.dump(data, Dumper=_DUMPER)
