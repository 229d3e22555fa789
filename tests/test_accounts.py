from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from apps.accounts.models import User
from apps.workspaces.models import Membership, Role
from tests.conftest import PASSWORD, make_user


@pytest.mark.django_db
def test_signup_creates_user_and_personal_workspace_and_lands_there():
    client = Client()
    response = client.post(
        "/accounts/signup/",
        {
            "email": "New.Person@Example.com",
            "display_name": "New Person",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
        follow=True,
    )
    user = User.objects.get(email="new.person@example.com")
    membership = Membership.objects.get(user=user)
    assert membership.role == Role.OWNER and membership.workspace.is_personal
    assert response.redirect_chain[-1][0] == f"/w/{membership.workspace.slug}/"
    assert "New Person" in response.content.decode()


@pytest.mark.django_db
def test_signup_duplicate_email_gets_clear_message():
    make_user("taken@example.com")
    response = Client().post(
        "/accounts/signup/",
        {"email": "TAKEN@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 200
    assert "An account with this e-mail already exists" in response.content.decode()
    assert User.objects.filter(email__iexact="taken@example.com").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("password", "message"),
    [("short", "too short"), ("12345678901", "entirely numeric"), ("password123", "too common")],
)
def test_signup_weak_password_gets_clear_message(password, message):
    response = Client().post(
        "/accounts/signup/",
        {"email": "weak@example.com", "password1": password, "password2": password},
    )
    assert message in response.content.decode()
    assert not User.objects.filter(email="weak@example.com").exists()


@pytest.mark.django_db
def test_signup_mismatched_passwords():
    response = Client().post(
        "/accounts/signup/", {"email": "m@example.com", "password1": PASSWORD, "password2": "other"}
    )
    assert "The two passwords do not match." in response.content.decode()


@pytest.mark.django_db
def test_login_and_logout():
    make_user("me@example.com")
    client = Client()
    response = client.post("/accounts/login/", {"username": "me@example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/").status_code == 302
    client.post("/accounts/logout/")
    assert "/accounts/login/" in client.get("/").headers["Location"]


@pytest.mark.django_db
def test_failed_logins_are_rate_limited_even_with_the_right_password(settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    make_user("target@example.com")
    client = Client()
    for _ in range(3):
        response = client.post(
            "/accounts/login/", {"username": "target@example.com", "password": "nope"}
        )
        assert "do not match an account" in response.content.decode()
    response = client.post(
        "/accounts/login/", {"username": "target@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    assert "Too many failed attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_password_reset_mails_a_working_link():
    make_user("forgot@example.com")
    client = Client()
    client.post("/accounts/password/reset/", {"email": "forgot@example.com"})
    assert len(mail.outbox) == 1
    link = re.search(
        r"http://testserver(/accounts/password/reset/\S+/)", mail.outbox[0].body
    ).group(1)
    response = client.get(link, follow=True)
    new = "another horse battery 77"
    response = client.post(
        response.redirect_chain[-1][0], {"new_password1": new, "new_password2": new}, follow=True
    )
    assert "Your password is set" in response.content.decode()
    assert Client().login(email="forgot@example.com", password=new)


@pytest.mark.django_db
def test_password_change(owner):
    client = Client()
    client.login(email=owner.email, password=PASSWORD)
    new = "a different horse 9182"
    response = client.post(
        "/accounts/password/change/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 302
    assert Client().login(email=owner.email, password=new)
