"""The course's start-up settings in every kernel, and its SQL-magic idioms on jupysql (README.md)."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from IPython.core.interactiveshell import InteractiveShell

# The course's start-up file's pandas display options.
PANDAS_OPTIONS = {"display.precision": 7, "display.max_rows": 50, "display.max_columns": 25}
# Set on jupysql's magic once it takes the course's idioms.
_COURSE_IDIOMS = "_tm351_course_idioms"
_VARIABLE = re.compile(r"\{(?P<braced>[A-Za-z_]\w*)\}|\$(?P<dollar>[A-Za-z_]\w*)")


def expand_connection_variables(line: str, namespace: Mapping[str, Any]) -> str:
    """The magic's line with each token that is exactly {NAME} or $NAME, NAME a string variable, replaced by it."""

    def expanded(token: str) -> str:
        match = _VARIABLE.fullmatch(token)
        if match is None:
            return token
        value = namespace.get(match["braced"] or match["dollar"])
        return value if isinstance(value, str) else token

    return " ".join(expanded(token) for token in line.split(" "))


def _course_sql_idioms() -> None:
    """Make jupysql's magic take the course's connection idioms. Its class is changed, not the magic registered in
    the shell: `%reload_ext sql`, which course notebooks run, re-runs only jupysql's package (so the same class
    makes the new magic), where a magic registered in its place would be replaced."""
    from sql.magic import SqlMagic

    jupysql = SqlMagic.execute
    if getattr(jupysql, _COURSE_IDIOMS, False):
        return

    # wraps keeps what IPython and jupysql read from the function: its argument parser, needs_local_scope, and the
    # mark that IPython must not expand {NAME} and $NAME itself (jupysql expands what it will).
    @functools.wraps(jupysql)
    def execute(self: Any, line: str = "", cell: str = "", local_ns: dict[str, Any] | None = None) -> Any:
        namespace = {**self.shell.user_ns, **(local_ns or {})}
        return jupysql(self, expand_connection_variables(line, namespace), cell, local_ns)

    setattr(execute, _COURSE_IDIOMS, True)
    SqlMagic.execute = execute


def _decimal_as_float() -> None:
    """numeric as float, as the course's adapter makes psycopg2 return it; and psycopg 3 too, which SQLAlchemy 2.1
    (and so the SQL magic and pandas.read_sql) uses for postgresql:// URLs."""
    import psycopg
    import psycopg2.extensions
    from psycopg.types.numeric import FloatLoader

    def as_float(value: str | None, cursor: object) -> float | None:
        return None if value is None else float(value)

    decimal = psycopg2.extensions.DECIMAL
    psycopg2.extensions.register_type(psycopg2.extensions.new_type(decimal.values, "DEC2FLOAT", as_float))
    psycopg.adapters.register_loader("numeric", FloatLoader)


def load_ipython_extension(shell: InteractiveShell) -> None:
    import pandas

    for option, value in PANDAS_OPTIONS.items():
        pandas.set_option(option, value)
    _decimal_as_float()
    _course_sql_idioms()
    shell.extension_manager.load_extension("sql")
