"""The aioresponses shim lets control-plane tests run on the newest aiohttp."""

import aiohttp

from streamer.http.responses import raise_for_response
from streamer.errors import RetryableHTTPError

import pytest


async def test_mocked_json_response(mock_http) -> None:
    mock_http.post("https://api.example.test/x", payload={"ok": True}, headers={"Request-Id": "r1"})
    async with aiohttp.ClientSession() as session:
        async with session.post("https://api.example.test/x", json={}) as response:
            assert response.status == 200
            assert await response.json() == {"ok": True}
            assert response.headers["Request-Id"] == "r1"


async def test_mocked_error_is_classified(mock_http) -> None:
    mock_http.get(
        "https://api.example.test/y",
        status=429,
        payload={"Message": "slow down", "RequestId": "abc"},
        headers={"Retry-After": "7"},
    )
    async with aiohttp.ClientSession() as session:
        async with session.get("https://api.example.test/y") as response:
            with pytest.raises(RetryableHTTPError) as info:
                await raise_for_response(response, what="getAll")
    assert info.value.retry_after == 7.0
    assert info.value.request_id == "abc"
    assert "slow down" in str(info.value)
