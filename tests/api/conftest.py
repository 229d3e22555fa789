"""API fixtures: keys of the team workspace (member and viewer) and of a foreign workspace,
and the chat fixtures (emulator, served app) for the routes that stream."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.api import services
from apps.workspaces.models import Membership, Role, Workspace
from apps.workspaces.services import create_workspace
from tests.chat.conftest import app_server, offline, online, owner_membership  # noqa: F401
from tests.conftest import make_user


def make_key(workspace: Workspace, role: str = Role.MEMBER, **kwargs) -> str:
    admin = Membership.objects.filter(workspace=workspace, role=Role.OWNER).first()
    return services.create_key(actor=admin, name=f"{role} key", role=role, **kwargs).secret


@pytest.fixture
def member_key(team) -> str:
    return make_key(team, Role.MEMBER)


@pytest.fixture
def viewer_key(team) -> str:
    return make_key(team, Role.VIEWER)


@pytest.fixture
def other_team(db) -> Workspace:
    return create_workspace(owner=make_user("rival@example.com", "Rita Rival"), name="Rivals")


@pytest.fixture
def foreign_key(other_team) -> str:
    return make_key(other_team, Role.MEMBER)


class ApiClient:
    """Django's test client with `Authorization: Bearer <key>` on every request."""

    def __init__(self, key: str | None) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}

    def __getattr__(self, method: str):
        def call(path: str, data=None, headers=None, **kwargs):
            fn = getattr(self.client, method)
            merged = {**self.headers, **(headers or {})}
            if data is not None and "content_type" not in kwargs and method != "post_files":
                kwargs.setdefault("content_type", "application/json")
            return (
                fn(path, data, headers=merged, **kwargs)
                if data is not None
                else fn(path, headers=merged, **kwargs)
            )

        return call

    def upload(self, *files, headers=None):
        merged = {**self.headers, **(headers or {})}
        return self.client.post("/api/v1/documents", {"file": list(files)}, headers=merged)


@pytest.fixture
def api(member_key) -> ApiClient:
    return ApiClient(member_key)


@pytest.fixture
def viewer_api(viewer_key) -> ApiClient:
    return ApiClient(viewer_key)


@pytest.fixture
def foreign_api(foreign_key) -> ApiClient:
    return ApiClient(foreign_key)
