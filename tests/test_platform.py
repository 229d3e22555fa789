"""Settings, deployment checks, compose file, Celery, logging and translations."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import polib
import pytest
import yaml
from django.conf import settings
from django.core.cache import cache
from django.test import Client

BASE_DIR = Path(__file__).resolve().parent.parent


def test_check_deploy_is_clean_with_production_values():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "docqa.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "p" * 20 + uuid.uuid4().hex + "Q9!z" * 5,
        "DJANGO_ALLOWED_HOSTS": "docqa.example.com",
        "DJANGO_HSTS_SECONDS": "31536000",
    }
    env.pop("DJANGO_SECURE", None)  # the test settings turn it off in this process
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_settings_refuse_to_start_without_a_secret():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "docqa.settings", "DJANGO_DEBUG": "0"}
    env.pop("DJANGO_SECRET_KEY", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "Set DJANGO_SECRET_KEY" in result.stderr


def test_celery_settings_follow_the_reference():
    assert settings.CELERY_TASK_SERIALIZER == "json"
    assert settings.CELERY_ACCEPT_CONTENT == ["json"]
    assert settings.CELERY_TASK_ACKS_LATE and settings.CELERY_TASK_REJECT_ON_WORKER_LOST
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
    vt = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert vt > settings.CELERY_TASK_TIME_LIMIT > settings.CELERY_TASK_SOFT_TIME_LIMIT


def test_moonshot_base_url_defaults_to_the_china_endpoint():
    assert settings.MOONSHOT_BASE_URL.rstrip("/") in {
        "https://api.moonshot.cn/v1",
        os.environ.get("MOONSHOT_BASE_URL", "").rstrip("/"),
    }


def _settings_env_names() -> set[str]:
    """Every environment variable the code reads: settings' env(...) and os.environ lookups."""
    import re

    names = {"DATABASE_URL", "REDIS_URL"}
    for path in [
        *BASE_DIR.joinpath("docqa").glob("*.py"),
        *BASE_DIR.joinpath("apps").rglob("*.py"),
    ]:
        text = path.read_text()
        names |= set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]*)"', text))
        names |= set(re.findall(r'os\.environ(?:\.get)?[\[(]\s*"([A-Z][A-Z0-9_]*)"', text))
    return names - {"DJANGO_SETTINGS_MODULE"}


def test_compose_file_matches_what_settings_read():
    compose = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    for infra in ("postgres", "redis"):
        assert "healthcheck" in services[infra]
        assert services[infra].get("volumes")
    known = _settings_env_names()
    for name in ("web", "worker", "beat"):
        svc = services[name]
        assert svc.get("build") or svc.get("image") == services["web"].get("image")
        command = " ".join(svc["command"]) if isinstance(svc["command"], list) else svc["command"]
        assert {
            "web": "uvicorn docqa.asgi:application",
            "worker": "celery -A docqa worker",
            "beat": "celery -A docqa beat",
        }[name] in command
        env_names = set(svc.get("environment", {}))
        assert {"DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY"} <= env_names
        unknown = {n for n in env_names if n not in known and not n.startswith("POSTGRES_")}
        assert svc["environment"]["DOCQA_STORAGE_URL"].startswith("${DOCQA_STORAGE_URL:-s3://")
        assert not unknown, f"{name} sets variables settings never read: {unknown}"
        for dep in ("postgres", "redis"):
            assert svc["depends_on"][dep]["condition"] == "service_healthy"
        assert svc["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"
    assert services["minio"]["image"].startswith("minio/minio")
    assert "healthcheck" in services["minio"] and services["minio"]["volumes"]


def _command(service: dict) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else command


def test_compose_runs_the_release_once_before_the_app_and_exactly_one_beat():
    """The release job (migrations, first admin) is a one-shot service every app service waits
    for; no web start migrates (N replicas would race); web runs WEB_CONCURRENCY processes;
    one beat, never replicated (two would enqueue every periodic task twice)."""
    services = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())["services"]
    release = services["release"]
    assert release["command"] == ["python", "-m", "docqa.release"]
    assert release["restart"] == "no"  # "unless-stopped" would run it again and again
    assert release["image"] == services["web"]["image"]
    assert {"DATABASE_URL", "DJANGO_SECRET_KEY", "DOCQA_ADMIN_EMAIL"} <= set(release["environment"])
    for dep in ("postgres", "redis"):
        assert release["depends_on"][dep]["condition"] == "service_healthy"
    for name in ("web", "worker", "beat"):
        condition = services[name]["depends_on"]["release"]["condition"]
        assert condition == "service_completed_successfully", name
        assert "migrate" not in _command(services[name]), name
        assert "ensure_admin" not in _command(services[name]), name
    assert "--workers=${WEB_CONCURRENCY:-1}" in services["web"]["command"]
    beats = [n for n, svc in services.items() if "celery -A docqa beat" in _command(svc)]
    assert beats == ["beat"]
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1
    assert "scale" not in services["beat"]


def test_env_example_documents_every_setting():
    documented = {
        line.split("=", 1)[0].lstrip("# ").strip()
        for line in (BASE_DIR / ".env.example").read_text().splitlines()
        if "=" in line
    }
    missing = _settings_env_names() - documented
    assert not missing, f".env.example does not document {missing}"


@pytest.mark.celery_worker
def test_a_real_celery_worker_runs_tasks(celery_worker):
    from apps.core.tasks import ping

    token = uuid.uuid4().hex
    ping.delay(token)
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and cache.get(f"ping:{token}") is None:
        time.sleep(0.1)
    assert cache.get(f"ping:{token}") == "pong"


def test_log_lines_never_carry_the_provider_key(settings, caplog):
    from apps.core.logging import RedactSecretsFilter

    settings.MOONSHOT_API_KEY = "sk-LiveKeyThatMustNotLeak123456"
    record = logging.LogRecord(
        "x",
        logging.ERROR,
        __file__,
        1,
        "calling with %s and header %s",
        ("sk-LiveKeyThatMustNotLeak123456", "Authorization: Bearer abc.def-ghi"),
        None,
    )
    RedactSecretsFilter().filter(record)
    text = record.getMessage()
    assert "LiveKey" not in text and "abc.def-ghi" not in text
    assert text.count("[redacted]") == 2


def test_translations_are_compiled_and_up_to_date():
    po_files = sorted((BASE_DIR / "locale").glob("zh_Hans/LC_MESSAGES/*.po"))
    assert po_files, "Simplified Chinese translations are missing"
    for po_path in po_files:
        po = polib.pofile(str(po_path))
        assert po.percent_translated() == 100, (
            f"{po_path.name}: untranslated {[e.msgid for e in po.untranslated_entries()][:5]}"
        )
        mo = polib.mofile(str(po_path.with_suffix(".mo")))
        compiled = {(e.msgctxt, e.msgid): e.msgstr for e in mo if e.msgid}
        wanted = {(e.msgctxt, e.msgid): e.msgstr for e in po.translated_entries() if not e.obsolete}
        assert compiled == wanted, f"{po_path.name} changed: run `make messages`"


@pytest.mark.django_db
def test_pages_render_in_simplified_chinese():
    client = Client()
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/accounts/login/"})
    page = client.get("/accounts/login/").content.decode()
    assert 'lang="zh-hans"' in page
    assert "登录" in page


@pytest.mark.django_db
def test_healthz():
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_nginx_sample_streams_the_chat_urls_and_admits_the_largest_upload(settings):
    """deploy/nginx.conf must keep pace with the app: its SSE block has to match the real ask
    and regenerate URLs, and its body limit must let through the largest upload the app takes
    (else nginx answers a bare 413 before the app can explain the limit)."""
    from django.urls import reverse

    conf = (BASE_DIR / "deploy" / "nginx.conf").read_text()
    [pattern] = re.findall(r"location ~ (\S+) \{", conf)
    for name in ("chat:ask", "chat:regenerate"):
        assert re.match(pattern, reverse(name, args=["team-a1b2", 42])), name
    assert not re.match(pattern, reverse("chat:detail", args=["team-a1b2", 42]))
    [limit] = re.findall(r"client_max_body_size (\d+)m;", conf)
    assert int(limit) * 1024 * 1024 > settings.DOCQA_MAX_UPLOAD_BYTES
    assert "proxy_buffering off;" in conf
