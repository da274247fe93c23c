"""The course's start-up settings in every kernel, and its SQL-magic idioms on jupysql (README.md)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import MAGIC_NO_VAR_EXPAND_ATTR

# The course's start-up file's pandas display options.
PANDAS_OPTIONS = {"display.precision": 7, "display.max_rows": 50, "display.max_columns": 25}
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


def _course_sql_magic(shell: InteractiveShell) -> Callable[..., Any]:
    jupysql = shell.magics_manager.magics["cell"]["sql"]

    def sql(line: str = "", cell: str | None = None, local_ns: dict[str, Any] | None = None) -> Any:
        namespace = {**shell.user_ns, **(local_ns or {})}
        return jupysql(expand_connection_variables(line, namespace), cell or "", local_ns=local_ns)

    sql.__doc__ = jupysql.__doc__
    sql.needs_local_scope = True  # type: ignore[attr-defined]
    setattr(sql, MAGIC_NO_VAR_EXPAND_ATTR, True)  # jupysql expands what it will itself
    return sql


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
    shell.extension_manager.load_extension("sql")
    shell.magics_manager.register_function(_course_sql_magic(shell), magic_kind="line_cell", magic_name="sql")
