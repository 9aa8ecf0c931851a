"""Secrets stay secret: signed-URL queries and tokens never reach logs, errors or
state files; TLS is verified unless --insecure; state files are 0600."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import logging
import ssl
import stat
import sys

import aiohttp
import click
import orjson
import pytest
from aiohttp import web

from streamer import HTTPConfig, JsonlSink, PartError, RetryPolicy, StreamConfig, run, stream_urls
from streamer.cli.options import build_config
from streamer.http.redact import register_secret
from streamer.simulator import FaultPlan, Simulator
from tests.support.faults import SimSource
from tests.support.require import require_module
from tests.support.local_server import serve_locally

pytestmark = [pytest.mark.faults, pytest.mark.timeout(60)]

TOKEN = "tok_live_9f8e7d6c5b4a"
LEAKS = ("sig=", "expires=", TOKEN)


def _assert_clean(text: str, where: str) -> None:
    for leak in LEAKS:
        assert leak not in text, f"{leak!r} leaked into {where}: …{text[max(0, text.find(leak) - 80):][:200]}"


async def test_errors_logs_and_state_never_contain_signatures_or_tokens(tmp_path, caplog):
    register_secret(TOKEN)
    caplog.set_level(logging.DEBUG)
    state = tmp_path / "state.json"
    faults = FaultPlan(seed=51, error_rate=0.3, throttle_rate=0.2, retry_after=0.0)
    async with Simulator(seed=51, faults=faults) as sim:
        export = sim.add_export("OrderItem", records=400, parts=2)
        faults.bytes_per_second = export.file_size(0) / 0.6
        faults.drop_at[f"{export.id}/0"] = [export.file_size(0) // 2]
        # URLs live 0.2 s and cannot be re-signed: the resume after the drop fails.
        source = SimSource(sim, [export], url_ttl=0.2, refresh=False)
        config = StreamConfig(retry=RetryPolicy(max_attempts=30, initial_delay=0.005, max_delay=0.01))
        with pytest.raises(PartError) as info:
            await run(source, JsonlSink(tmp_path / "o.jsonl"), config=config, state=state)
    assert faults.injected.get("503", 0) + faults.injected.get("429", 0) > 0
    assert "retry" in caplog.text.lower() or "resuming" in caplog.text  # the faults were logged…
    assert "/files/" in caplog.text  # …with the URL's path
    _assert_clean(str(info.value), "the error")
    _assert_clean(repr(info.value.__cause__), "the error's cause")
    _assert_clean(caplog.text, "the log")
    _assert_clean(state.read_text(), "the state file")
    assert orjson.loads(state.read_bytes())["run"]["status"] == "failed"


async def test_a_token_echoed_by_a_server_is_masked_in_the_error(tmp_path):
    register_secret(TOKEN)

    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"Message": f"Access token {TOKEN} is not valid"}, status=401)

    app = web.Application()
    app.router.add_get("/x.jsonl", echo)
    async with serve_locally(app, shutdown_timeout=0.2) as base_url:
        with pytest.raises(PartError) as info:
            async for _ in stream_urls([f"{base_url}/x.jsonl?sig=abc&expires=1"]):
                pass
    _assert_clean(str(info.value), "the error")
    assert "***" in str(info.value)


async def test_cli_stderr_and_state_file_are_clean(tmp_path):
    register_secret(TOKEN)
    state = tmp_path / "state.json"
    async with Simulator(seed=52, url_ttl=0.0) as sim:  # every link is already expired
        export = sim.add_export("Payment", records=50, parts=1)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "streamer.cli.main", "-vv", "urls", *sim.file_urls(export),
            "--state", str(state), "-o", str(tmp_path / "o.jsonl"),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(process.communicate(), 30)
    text = err.decode()
    assert process.returncode == 1
    assert "Request has expired" in text and "part-0000.jsonl" in text
    _assert_clean(text, "the CLI's stderr")
    _assert_clean(state.read_text(), "the state file")
    assert stat.S_IMODE(state.stat().st_mode) == 0o600


# ------------------------------------------------------------------------ TLS


def test_tls_verification_is_on_unless_insecure_is_asked_for():
    assert HTTPConfig().verify_tls is True
    assert StreamConfig().http.verify_tls is True
    defaults = dict(concurrency=4, ordered=False, batch_size=1000, bad_lines="fail", dead_letter=None,
                    max_line_bytes=1 << 20, retries=8, connect_timeout=30.0, read_timeout=120.0)
    assert build_config(**defaults, insecure=False).http.verify_tls is True
    assert build_config(**defaults, insecure=True).http.verify_tls is False


def test_the_cli_has_one_switch_to_turn_verification_off():
    from streamer.cli.main import cli

    for name, command in cli.commands.items():
        names = {p.name for p in command.params}
        if "insecure" not in names:
            continue
        tls_switches = {n for n in names if any(w in n for w in ("tls", "ssl", "verify", "insecure", "cert"))}
        assert tls_switches == {"insecure"}, f"{name} has other TLS switches: {tls_switches}"
        (flag,) = [p for p in command.params if p.name == "insecure"]
        assert flag.is_flag and not flag.get_default(click.Context(command))


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory):  # type: ignore[no-untyped-def]
    """A certificate for 127.0.0.1 that no CA signed."""
    x509 = require_module("cryptography.x509", "it is in the test extra: pip install -e '.[test]'")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


async def test_an_untrusted_certificate_is_refused_by_default_and_accepted_only_when_insecure(self_signed):
    async def data(request: web.Request) -> web.Response:
        return web.Response(body=b'{"n":1}\n{"n":2}\n', content_type="application/x-ndjson")

    app = web.Application()
    app.router.add_get("/d.jsonl", data)
    runner = web.AppRunner(app, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self_signed)
    await site.start()
    url = f"https://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/d.jsonl"  # type: ignore[union-attr]
    try:
        quick = RetryPolicy(max_attempts=1)
        refused = stream_urls([url])  # default retry budget: a bad certificate is final anyway
        with pytest.raises(PartError, match="CERTIFICATE_VERIFY_FAILED") as info:
            async for _ in refused:
                pass
        assert isinstance(info.value.__cause__, aiohttp.ClientConnectorCertificateError)
        assert refused.stats.retries == 0
        insecure = StreamConfig(retry=quick, http=HTTPConfig(verify_tls=False))
        got = [r.data["n"] async for r in stream_urls([url], config=insecure)]
    finally:
        await runner.cleanup()
    assert got == [1, 2]
