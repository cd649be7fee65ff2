"""Links name the server that is running: outside production, an unset `PUBLIC_URL` follows
`HOST` and `PORT` (what `make run` and `python -m scripts.serve` bind), so `PORT=8200 make run`
mails, exports, avatars, OAuth metadata and `currentPolicy.url` all say 8200. Production keeps
the `PUBLIC_URL` it is given. `GET /` sends a browser to GraphiQL at `/graphql`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.settings import Settings
from tests import serving
from tests.conftest import Api
from tests.orgs.conftest import signed_in
from tests.production_env import PRODUCTION
from tests.smtp import Inbox, body_of


@pytest.mark.no_db
@pytest.mark.parametrize(("environ", "expected"), [
    ({}, "http://127.0.0.1:8000"),
    ({"PORT": "8200"}, "http://127.0.0.1:8200"),
    ({"HOST": "localhost", "PORT": "8200"}, "http://localhost:8200"),
    # A wildcard address is where to listen, not where to go: links name this machine.
    ({"HOST": "0.0.0.0", "PORT": "8200"}, "http://127.0.0.1:8200"),
    ({"HOST": "::", "PORT": "8200"}, "http://127.0.0.1:8200"),
    ({"HOST": "::1", "PORT": "8200"}, "http://[::1]:8200"),
    ({"RELLEKS_ENV": "test", "PORT": "8200"}, "http://127.0.0.1:8200"),
    # An explicit PUBLIC_URL (a proxy in front, another name) always wins.
    ({"PORT": "8200", "PUBLIC_URL": "https://crm.example.com"}, "https://crm.example.com"),
])
def test_outside_production_public_url_follows_host_and_port(environ: dict[str, str],
                                                              expected: str) -> None:
    assert Settings.from_env(environ).public_url == expected


@pytest.mark.no_db
def test_production_takes_public_url_as_given_never_from_the_port() -> None:
    given = Settings.from_env({**PRODUCTION, "PORT": "8200",
                               "PUBLIC_URL": "https://api.example.com"})
    assert given.public_url == "https://api.example.com"
    # The port production binds is behind its proxy: it says nothing about the public address.
    assert ":8200" not in Settings.from_env({**PRODUCTION, "PORT": "8200"}).public_url


@pytest.fixture
def settings(database_url: str, media_root: Path, smtp_server: tuple[Inbox, int]) -> Settings:
    """What `PORT=8200 make run` gives the app: PORT set, PUBLIC_URL not."""
    environ = {"RELLEKS_ENV": "test", "PORT": "8200", "DATABASE_URL": database_url,
               "MEDIA_ROOT": str(media_root), "SMTP_URL": f"smtp://127.0.0.1:{smtp_server[1]}"}
    if os.environ.get("REDIS_URL"):
        environ["REDIS_URL"] = os.environ["REDIS_URL"]
    return Settings.from_env(environ)


async def test_oauth_metadata_names_the_port_served(http: httpx.AsyncClient) -> None:
    response = await http.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    metadata = response.json()
    assert metadata["issuer"] == "http://127.0.0.1:8200"
    for endpoint in ("authorization_endpoint", "token_endpoint", "revocation_endpoint"):
        assert metadata[endpoint].startswith("http://127.0.0.1:8200/oauth/"), metadata


async def test_current_policy_url_names_the_port_served(api: Api, settings: Settings) -> None:
    body = await api.gql("{ currentPolicy { url version } }")
    policy = body["data"]["currentPolicy"]
    assert policy["url"] == (f"http://127.0.0.1:8200/legal/privacy?version="
                             f"{settings.terms_version}")


async def test_mailed_links_name_the_port_served(api: Api, inbox: Inbox,
                                                 settings: Settings) -> None:
    await signed_in(settings, "ada@example.com", "Ada Lovelace")
    body = await api.gql('mutation { requestPasswordReset(input: {email: "ada@example.com"}) '
                         '{ accepted } }')
    assert body["data"]["requestPasswordReset"] == {"accepted": True}
    (mail,) = inbox.to("ada@example.com")
    assert "\nhttp://127.0.0.1:8200/reset-password?token=rlk_pr_" in body_of(mail)


async def test_the_root_redirects_to_graphiql(http: httpx.AsyncClient) -> None:
    response = await http.get("/", headers={"accept": "text/html"})
    assert response.status_code in {302, 307}
    assert response.headers["location"] == "/graphql"
    assert (await http.get("/", follow_redirects=True)).url.path == "/graphql"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A server started as `make run` starts it (`python -m scripts.serve --port N`), with
    neither PORT nor PUBLIC_URL in its environment."""
    with serving.served(tmp_path_factory.mktemp("served"), RELLEKS_ENV="development") as port:
        yield port


@pytest.mark.no_db
def test_the_served_server_names_its_own_port(served: int) -> None:
    base = f"http://127.0.0.1:{served}"
    metadata = httpx.get(f"{base}/.well-known/oauth-authorization-server", timeout=10).json()
    assert metadata["issuer"] == base
    assert metadata["token_endpoint"] == f"{base}/oauth/token"
    root = httpx.get(f"{base}/", timeout=10)
    assert root.status_code in {302, 307} and root.headers["location"] == "/graphql"
