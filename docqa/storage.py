"""Where uploaded originals live: local disk (the default) or an S3-compatible bucket.

Every read and write of an original goes through Django's storage API (`default_storage`), so
the choice is only this setting. Several web processes and workers on several hosts need one
shared place for the originals: a bucket, through django-storages' S3 backend (boto3), which
works with AWS S3, MinIO, Ceph, R2 and the like.

Configured by `DOCQA_STORAGE_URL=s3://bucket/optional/prefix` or, the usual way,
`AWS_STORAGE_BUCKET_NAME`; then `AWS_S3_ENDPOINT_URL` (MinIO and other non-AWS servers),
`AWS_S3_REGION_NAME`, `AWS_S3_ADDRESSING_STYLE` (default "path", which every S3-compatible server
understands) and credentials from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` or boto3's
usual chain (instance role, ~/.aws). `DOCQA_STORAGE_REDIRECT_DOWNLOADS=1` sends downloads to a
signed URL valid for a minute instead of streaming them through the app (the bucket's endpoint
must then be reachable from the browser).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import environ

SIGNED_URL_SECONDS = 60


def default_storage_config(env: environ.Env, media_root: Path) -> dict[str, Any]:
    """The `STORAGES["default"]` entry for this environment."""
    url = env("DOCQA_STORAGE_URL", default="")
    bucket, prefix = "", ""
    if url:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError("DOCQA_STORAGE_URL must look like s3://bucket/optional/prefix")
        bucket, prefix = parts.netloc, parts.path.strip("/")
    bucket = bucket or env("AWS_STORAGE_BUCKET_NAME", default="")
    if not bucket:
        return {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": media_root, "base_url": None},
        }
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "location": prefix,
            "endpoint_url": env("AWS_S3_ENDPOINT_URL", default=None),
            "region_name": env("AWS_S3_REGION_NAME", default=None),
            "access_key": env("AWS_ACCESS_KEY_ID", default=None),
            "secret_key": env("AWS_SECRET_ACCESS_KEY", default=None),
            "addressing_style": env("AWS_S3_ADDRESSING_STYLE", default="path"),
            "signature_version": "s3v4",
            # Originals are private: no public ACL, never overwritten (a name taken gets a
            # suffix, as on disk), and URLs only signed and short-lived.
            "default_acl": None,
            "file_overwrite": False,
            "querystring_auth": True,
            "querystring_expire": SIGNED_URL_SECONDS,
        },
    }


def is_remote(storage_config: dict[str, Any]) -> bool:
    return storage_config["BACKEND"] != "django.core.files.storage.FileSystemStorage"
