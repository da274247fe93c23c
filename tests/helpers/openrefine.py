"""OpenRefine used as its page uses it, through the gateway with the student's login: making a project from an
uploaded CSV file and reading its rows."""

from __future__ import annotations

import json

import requests

from tests.helpers.stacks import Stack

MODULES = "code,title,credits\nTM351,Data management and analysis,30\nM269,Algorithms,30\nTM112,Computing,30\n"
ROWS = [["TM351", "Data management and analysis", "30"], ["M269", "Algorithms", "30"], ["TM112", "Computing", "30"]]


def logged_in(stack: Stack) -> requests.Session:
    """A session logged in to the gateway, as the student's browser is."""
    session = requests.Session()
    session.headers.update(stack.login())
    return session


def command(stack: Stack, name: str) -> str:
    return stack.url(f"/openrefine/command/core/{name}")


def create_project(
    stack: Stack, session: requests.Session, name: str, csv: str, token: str | None
) -> requests.Response:
    """What OpenRefine's page posts to make a project from an uploaded CSV file."""
    return session.post(
        command(stack, "create-project-from-upload"),
        params={"csrf_token": token} if token else {},
        files={"project-file": ("modules.csv", csv.encode(), "text/csv")},
        data={
            "project-name": name,
            "format": "text/line-based/*sv",
            "options": json.dumps({"separator": ",", "headerLines": 1}),
        },
        allow_redirects=False,
        timeout=120,
    )


def csrf_token(stack: Stack, session: requests.Session) -> str:
    return session.get(command(stack, "get-csrf-token"), timeout=10).json()["token"]


def project_id(made: requests.Response) -> str:
    """The new project's id, from the redirect OpenRefine answers a made project with (the gateway puts its path
    back on it)."""
    assert made.status_code == 302, made.text
    location = made.headers["Location"]
    assert location.startswith("/openrefine/project?project="), location
    return location.split("project=", 1)[1]


def rows(stack: Stack, session: requests.Session, project: str) -> list[list[str | None]]:
    answer = session.get(command(stack, "get-rows"), params={"project": project, "start": 0, "limit": 50}, timeout=30)
    assert answer.status_code == 200, answer.text
    return [[cell["v"] if cell else None for cell in row["cells"]] for row in answer.json()["rows"]]


def project_names(stack: Stack, session: requests.Session) -> dict[str, str]:
    projects = session.get(command(stack, "get-all-project-metadata"), timeout=30).json()["projects"]
    return {project: metadata["name"] for project, metadata in projects.items()}
