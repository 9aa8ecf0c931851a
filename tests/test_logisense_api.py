"""LogiSense control plane against the simulator: auth, history, statuses, cancel, errors.

The files come from the simulator's own signed CSV route here (fast); the
real-S3 path is in ``test_logisense_s3.py``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp
import anyio
import pytest

from streamer import LogisenseSource, RetryPolicy, StreamConfig, stream
from streamer.errors import ExportError, ExportTimeoutError, HTTPError
from streamer.http.redact import redact_text
from streamer.providers.logisense.auth import LogisenseAuth, login_url_for
from streamer.providers.logisense.client import LogisenseClient, base_url_for
from streamer.providers.logisense.lifecycle import DataExportLifecycle, history_id_of, status_of
from streamer.simulator import FaultPlan, Simulator
from streamer.simulator.logisense import LogisenseApi, install

FAST = StreamConfig(retry=RetryPolicy(initial_delay=0.02, jitter=0.02))


@pytest.fixture
async def tenant() -> AsyncIterator[tuple[Simulator, LogisenseApi]]:
    sim = Simulator(seed=5, faults=FaultPlan(seed=5))
    api = install(sim, ready_made=False, rows_per_export=300, pending_seconds=0.05, processing_seconds=0.1)
    async with sim:
        yield sim, api


def auth_for(sim: Simulator, **kwargs: object) -> LogisenseAuth:
    options: dict[str, object] = {"username": "demo", "password": "demo-password"}
    options.update(kwargs)
    return LogisenseAuth(login_url_for(sim.base_url, sim.base_url), client_id="streamer", **options)  # type: ignore[arg-type]


def source_for(sim: Simulator, **kwargs: object) -> LogisenseSource:
    options: dict[str, object] = {
        "base_url": sim.base_url,
        "username": "demo",
        "password": "demo-password",
        "client_id": "streamer",
        "poll_interval": 0.02,
    }
    options.update(kwargs)
    return LogisenseSource(**options)  # type: ignore[arg-type]


async def collect(source: LogisenseSource) -> list[dict]:
    async with stream(source, config=FAST) as records:
        return [record.data async for record in records]


# ---------------------------------------------------------------------- auth


def test_urls_are_derived_from_the_tenant_layout() -> None:
    assert base_url_for(tenant="acme") == "https://acme.logisensebilling.com/ResourceServer/api/v10/"
    assert base_url_for("https://h.example/ResourceServer/api/v10") == "https://h.example/ResourceServer/api/v10/"
    assert base_url_for("http://127.0.0.1:9") == "http://127.0.0.1:9/ResourceServer/api/v10/"
    assert (
        login_url_for(None, "https://acme.logisensebilling.com/ResourceServer/api/v10/")
        == "https://acme.logisensebilling.com/AuthorizationServer/api/v10/Access/Login"
    )


async def test_user_and_client_secret_logins_send_bearer(tenant: tuple[Simulator, LogisenseApi]) -> None:
    sim, api = tenant
    history = api.add_history(20)
    for auth in (auth_for(sim), auth_for(sim, username=None, password=None, client_secret="demo-secret")):
        async with aiohttp.ClientSession() as session:
            client = LogisenseClient(session, base_url_for(sim.base_url), auth)
            answer = await client.get(f"DataExport/History/{history.identity}")
            assert answer["instance"]["identity"] == history.identity
    # Both are the documented password grant; the secret one is the docs' "Option 2".
    assert api.logins == ["password", "password (client secret)"]
    # secrets never appear in messages
    token = next(iter(api.tokens))
    assert redact_text(f"token {token} password demo-password") == "token *** password ***"


async def test_simulator_refuses_the_undocumented_client_credentials_grant(
    tenant: tuple[Simulator, LogisenseApi],
) -> None:
    sim, api = tenant
    form = {"grant_type": "client_credentials", "client_id": "streamer", "client_secret": "demo-secret"}
    async with aiohttp.ClientSession() as session:
        async with session.post(login_url_for(sim.base_url, sim.base_url), data=form) as response:
            assert response.status == 400
            assert (await response.json())["error"] == "unsupported_grant_type"
    assert api.logins == []


async def test_client_secret_login_sends_option_2_form(tenant: tuple[Simulator, LogisenseApi]) -> None:
    sim, api = tenant
    auth = auth_for(sim, username=None, password=None, client_secret="demo-secret")
    async with aiohttp.ClientSession() as session:
        await auth.token(session)
    assert api.login_fields == [("client_id", "client_secret", "grant_type")]
    assert api.logins == ["password (client secret)"]


async def test_token_is_refreshed_before_it_expires(tenant: tuple[Simulator, LogisenseApi]) -> None:
    sim, api = tenant
    api.token_ttl = 1.0  # refreshed at 90% of its life
    auth = auth_for(sim)
    async with aiohttp.ClientSession() as session:
        first = await auth.token(session)
        assert await auth.token(session) == first
        await anyio.sleep(0.95)
        second = await auth.token(session)
    assert second != first and api.logins == ["password", "refresh_token"]
    assert api.tokens[second] > time.time()


async def test_a_401_refreshes_once_and_repeats_the_call(tenant: tuple[Simulator, LogisenseApi]) -> None:
    sim, api = tenant
    history = api.add_history(5)
    auth = auth_for(sim)
    async with aiohttp.ClientSession() as session:
        client = LogisenseClient(session, base_url_for(sim.base_url), auth)
        await client.get(f"DataExport/History/{history.identity}")
        api.revoke_tokens()  # server-side logout: the next call is answered 401
        answer = await client.get(f"DataExport/History/{history.identity}")
        assert answer["instance"]["identity"] == history.identity
        assert api.logins == ["password", "refresh_token"]

        api.token_ttl = -1  # every token is born expired: the second 401 is final
        api.revoke_tokens()
        calls_before = len(api.calls)
        with pytest.raises(HTTPError) as caught:
            await client.get(f"DataExport/History/{history.identity}")
    assert caught.value.status == 401
    assert len(api.calls) - calls_before == 2  # the call, one refresh, the repeat — no loop
    assert caught.value.request_id == api.calls[-1][2]


# ------------------------------------------------------------------- history


async def test_paged_history_is_walked_page_by_page(tenant: tuple[Simulator, LogisenseApi]) -> None:
    sim, api = tenant
    rows = [api.add_history(1, data_export_id=7 if i % 3 else 8) for i in range(45)]
    newest_of_7 = max(h.identity for h in rows if h.data_export_id == 7)
    api.add_history(1, data_export_id=7, ready=False, processing_seconds=60)  # newer, not complete
    async with aiohttp.ClientSession() as session:
        lifecycle = DataExportLifecycle(LogisenseClient(session, base_url_for(sim.base_url), auth_for(sim)))
        seen = [row["identity"] async for row in lifecycle.paged(page_size=20)]
        pages = [path for _, path, _ in api.calls if path.startswith("DataExport/History/Paged")]
        assert sorted(seen) == sorted(api.history) and len(seen) == 46
        assert [p.split("pageNumber=")[1].split("&")[0] for p in pages] == ["1", "2", "3"]
        assert await lifecycle.latest_complete(7) == newest_of_7
        assert len(await lifecycle.all_rows()) == 46


async def test_latest_of_streams_the_newest_completed_row(tenant: tuple[Simulator, LogisenseApi]) -> None:
    sim, api = tenant
    api.add_history(10, data_export_id=7)
    newest = api.add_history(12, data_export_id=7)
    records = await collect(source_for(sim, latest_of=[7]))
    assert [r["rowId"] for r in records] == newest.ids()


# ------------------------------------------------------------------ statuses


async def test_triggered_export_is_polled_until_complete(tenant: tuple[Simulator, LogisenseApi]) -> None:
    sim, api = tenant
    body = {"dataExportId": 42, "parameters": "2024-01"}
    triggered: list[tuple[int, int]] = []
    source = source_for(sim, export_ids=[42], trigger_body=body, on_triggered=lambda e, h: triggered.append((e, h)))
    records = await collect(source)
    (export_id, history_id), = triggered
    assert export_id == 42 and api.trigger_bodies == [body]
    assert [r["rowId"] for r in records] == api.history[history_id].ids()
    polls = [p for _, p, _ in api.calls if p == f"DataExport/History/{history_id}"]
    assert len(polls) >= 2  # it was Pending/Processing first
    assert api.cancelled == []  # a finished run cancels nothing


@pytest.mark.parametrize(
    ("outcome", "error", "text"),
    [
        ("Failed", ExportError, "failed"),
        ("Archived", ExportError, "does not know"),  # unknown but complete: clearly terminal, at once
    ],
)
async def test_terminal_statuses_fail_with_tracking_id(
    tenant: tuple[Simulator, LogisenseApi], outcome: str, error: type[Exception], text: str
) -> None:
    sim, api = tenant
    history = api.add_history(5, outcome=outcome)
    with pytest.raises(error) as caught:
        await collect(source_for(sim, history_ids=[history.identity]))
    message = str(caught.value)
    assert text in message and f"DataExportHistory {history.identity}" in message and repr(outcome) in message
    assert f"trackingId {api.calls[-1][2]}" in message


async def test_cancelled_status_and_custom_status_names(tenant: tuple[Simulator, LogisenseApi]) -> None:
    sim, api = tenant
    cancelled = api.add_history(5)
    cancelled.cancelled_at = time.time()
    with pytest.raises(ExportError, match="was cancelled"):
        await collect(source_for(sim, history_ids=[cancelled.identity]))
    archived = api.add_history(5, outcome="Archived")
    records = await collect(source_for(sim, history_ids=[archived.identity], status_names={"archived": "done"}))
    assert len(records) == 5
    assert status_of({"dataExportHistoryStatusTypeName": "COMPLETED"}) == ("done", "COMPLETED")
    assert status_of({"dataExportHistoryStatusTypeName": "Canceled"})[0] == "cancelled"


async def test_deadline(tenant: tuple[Simulator, LogisenseApi]) -> None:
    sim, api = tenant
    slow = api.add_history(5, ready=False, processing_seconds=60)
    with pytest.raises(ExportTimeoutError, match=f"DataExportHistory {slow.identity} .*'Processing'.* not done after 0.2s"):
        await collect(source_for(sim, history_ids=[slow.identity], timeout=0.2))
    assert api.cancelled == []  # not ours: never cancelled
    odd = api.add_history(5, ready=False, processing_seconds=60, running_name="Reticulating")
    with pytest.raises(ExportTimeoutError, match="unknown status 'Reticulating'"):
        await collect(source_for(sim, history_ids=[odd.identity], timeout=0.2))


def test_trigger_answer_shapes() -> None:
    assert history_id_of({"results": {"items": [{"identity": 7}]}}) == 7
    assert history_id_of({"instance": {"identity": 8}}) == 8
    assert history_id_of({"dataExportHistoryId": "9"}) == 9
    with pytest.raises(ExportError, match="trackingId abc"):
        history_id_of({"trackingId": "abc", "type": "create"})


# -------------------------------------------------------------------- cancel


@pytest.mark.parametrize("cancel_on_abort", [True, False])
async def test_aborted_run_cancels_what_it_triggered(
    tenant: tuple[Simulator, LogisenseApi], cancel_on_abort: bool
) -> None:
    sim, api = tenant
    api.processing_seconds = 60
    source = source_for(sim, export_ids=[3], cancel_on_abort=cancel_on_abort)
    with anyio.move_on_after(0.4) as scope:
        await collect(source)
    assert scope.cancelled_caught
    (history_id,) = source.triggered
    if cancel_on_abort:
        assert api.cancelled == [history_id]
        assert api.history[history_id].status()[0] == "Cancelled"
        assert ("POST", f"DataExport/History/{history_id}/Cancel") in [(m, p) for m, p, _ in api.calls]
    else:
        assert api.cancelled == []


# -------------------------------------------------------------------- errors


async def test_errors_carry_the_tracking_id(tenant: tuple[Simulator, LogisenseApi]) -> None:
    sim, api = tenant
    with pytest.raises(HTTPError) as caught:
        await collect(source_for(sim, history_ids=[999]))
    tracking = api.calls[-1][2]
    assert caught.value.status == 404 and caught.value.request_id == tracking
    assert tracking in str(caught.value) and "DataExportHistory 999 not found" in str(caught.value)


async def test_throttled_api_and_files_are_retried(tenant: tuple[Simulator, LogisenseApi]) -> None:
    sim, api = tenant
    sim.faults.throttle_rate = 0.5
    sim.faults.retry_after = 0.01
    rows = [api.add_history(200) for _ in range(3)]
    source = source_for(sim, history_ids=[h.identity for h in rows], retry=RetryPolicy(initial_delay=0.01))
    records = await collect(source)
    assert sorted(r["rowId"] for r in records) == sorted(i for h in rows for i in h.ids())
    assert sim.faults.injected.get("429", 0) > 0


async def test_builtin_link_expires_like_s3(tenant: tuple[Simulator, LogisenseApi]) -> None:
    sim, api = tenant
    api.link_ttl = 0.2
    history = api.add_history(3)
    link = api.builtin_link(history)
    async with aiohttp.ClientSession() as session:
        async with session.get(link, headers={"Range": "bytes=10-"}) as response:
            assert response.status == 206 and await response.read() == history.content[10:]
        await anyio.sleep(0.3)
        async with session.get(link) as response:
            assert response.status == 403
            assert "<Message>Request has expired</Message>" in await response.text()
