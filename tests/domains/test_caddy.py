"""The documented Caddy set-up, for real: Caddy (Debian's 2.6) with on-demand TLS asks our
`/internal/tls-ask` before it issues a certificate for a hostname, then proxies to the app.
A verified domain gets a certificate and its site; any other hostname gets no certificate (the
TLS handshake fails). Caddy's own internal CA signs (no ACME, nothing leaves the machine).

`make test` installs Debian's caddy when it is missing (`scripts/caddy.sh`); with
`RELLEKS_SKIP_CADDY=1` it is skipped, saying so."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from tests.conftest import Api
from tests.domains.conftest import added, verified
from tests.forms.conftest import make_form
from tests.nameserver import Zone
from tests.orgs.conftest import Team
from tests.smtp import free_port

CADDY = shutil.which("caddy")
pytestmark = pytest.mark.skipif(CADDY is None, reason="no caddy binary (apt-get install caddy)")
HOST = "forms.acme-shop.com"

CADDYFILE = """{{
	admin off
	storage file_system {storage}
	local_certs
	skip_install_trust
	auto_https disable_redirects
	http_port {http_port}
	https_port {https_port}
	on_demand_tls {{
		ask http://127.0.0.1:{app_port}/internal/tls-ask
	}}
}}

https:// {{
	tls {{
		on_demand
	}}
	reverse_proxy 127.0.0.1:{app_port}
}}
"""


@pytest.fixture
async def app_port(app: Any) -> AsyncIterator[int]:
    """The test's app behind a real socket (uvicorn in this event loop: same database)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off",
                                           log_level="warning", access_log=False))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), task
        await asyncio.sleep(0.01)
    yield server.servers[0].sockets[0].getsockname()[1]
    server.should_exit = True
    await task


@pytest.fixture
async def caddy(app_port: int, tmp_path: Path) -> AsyncIterator[tuple[int, Path]]:
    """Caddy on a free HTTPS port with the documented on-demand set-up; its port and the root
    certificate of its internal CA."""
    https_port = free_port()
    config = tmp_path / "Caddyfile"
    config.write_text(CADDYFILE.format(storage=tmp_path / "data", http_port=free_port(),
                                       https_port=https_port, app_port=app_port))
    assert CADDY is not None
    log = tmp_path / "caddy.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            CADDY, "run", "--config", str(config), "--adapter", "caddyfile", stdout=out,
            stderr=subprocess.STDOUT, cwd=tmp_path,
            env={"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)})
    try:
        for _ in range(200):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", https_port)
                writer.close()
                break
            except OSError:
                assert process.returncode is None, log.read_text()
                await asyncio.sleep(0.05)
        yield https_port, tmp_path / "data" / "pki" / "authorities" / "local" / "root.crt"
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 10)


async def through_caddy(port: int, root: Path, host: str) -> httpx.Response:
    """GET https://<host>/ sent to Caddy on loopback, TLS verified for `host` against Caddy's
    root (its internal CA writes it once it has issued something)."""
    context = ssl.create_default_context()
    if await asyncio.to_thread(root.exists):
        context.load_verify_locations(root)
    else:  # before the first certificate: the handshake itself is what is tested
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    async with httpx.AsyncClient(verify=context, timeout=20) as client:
        return await client.get(f"https://127.0.0.1:{port}/", headers={"host": host},
                                extensions={"sni_hostname": host})


async def test_caddy_gets_a_certificate_only_for_a_verified_domain(
        api: Api, team: Team, zone: Zone, caddy: tuple[int, Path],
        capsys: pytest.CaptureFixture[str]) -> None:
    port, root = caddy
    await verified(api, team, zone, HOST)
    await added(api, team, "pending.acme-shop.com")
    form = await make_form(team.org, name="Contact us")
    with pytest.raises(httpx.ConnectError):  # no certificate: the handshake fails
        await through_caddy(port, root, "pending.acme-shop.com")
    with pytest.raises(httpx.ConnectError):
        await through_caddy(port, root, "nobody.example.com")
    page = await through_caddy(port, root, HOST)
    assert page.status_code == 200, page.text
    assert f'<a href="/f/{form.public_id}">Contact us</a>' in page.text
    assert await asyncio.to_thread(root.exists)
    again = await through_caddy(port, root, HOST)  # now verified against Caddy's own CA
    assert again.status_code == 200
    # Caddy asked us once per hostname (our access log): refused twice, allowed once.
    asked = [line for line in map(json.loads, capsys.readouterr().out.splitlines())
             if line.get("path") == "/internal/tls-ask"]
    assert [line["status"] for line in asked] == [404, 404, 200]
