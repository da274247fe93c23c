"""Vagrantfile templates: Jinja2 with an `rb` filter that writes a value as a literal Ruby string."""

from __future__ import annotations

from pathlib import Path

import jinja2


def ruby_string(value: object) -> str:
    """A single-quoted Ruby literal: nothing in it is interpolated."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def ruby_template(path: Path) -> jinja2.Template:
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)  # noqa: S701 - Ruby, not HTML
    environment.filters["rb"] = ruby_string
    return environment.from_string(path.read_text(encoding="utf-8"))
