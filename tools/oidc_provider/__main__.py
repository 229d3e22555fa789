"""`python -m tools.oidc_provider --port 8766`: serve the test OIDC provider in the foreground.

Prints the issuer URL (one line, flushed) once bound; point DOCQA_OIDC_ISSUER at it, with the
client id and secret given here. Ctrl-C or SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import signal
import sys

import uvicorn

from tools.oidc_provider.config import ProviderConfig
from tools.oidc_provider.server import OIDCProviderServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Loopback OpenID Connect provider for DocQA")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766, help="0 picks a free port")
    parser.add_argument("--client-id", default="docqa")
    parser.add_argument("--client-secret", default="docqa-oidc-dev-secret")
    parser.add_argument(
        "--redirect-uri",
        action="append",
        help="allowed callback (repeatable); default: DocQA's on 127.0.0.1:8000 and localhost",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    callback = "/accounts/oidc/sso/login/callback/"
    redirect_uris = args.redirect_uri or [
        f"http://{host}:8000{callback}" for host in ("127.0.0.1", "localhost")
    ]
    config = ProviderConfig(
        client_id=args.client_id, client_secret=args.client_secret, redirect_uris=redirect_uris
    )
    provider = OIDCProviderServer(config, args.host, args.port)
    sock = provider.bind()
    print(provider.issuer, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        uvicorn.Server(provider.uvicorn_config()).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()


if __name__ == "__main__":
    main()
