"""The probes' HTTP client and polling: stdlib only (urllib in threads), every wait bounded.

A malformed answer (JSON without the field a probe reads) ends that probe at once with
the URL and the field: it will not mend by asking again, and it must not take the other
probes down with it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

# Seconds between two attempts: from FIRST_POLL, doubling up to POLL. A server answers its
# readiness within a fraction of a second of its start, later events (a scrape, an evaluation,
# a notification) come on their own clocks: a quick first look, then a steady pace.
FIRST_POLL = 0.05
POLL = 0.25


class HTTPFailure(Exception):
    """No answer, or a non-2xx one: worth asking again until the deadline."""


class MalformedAnswer(Exception):
    """A 2xx answer without what the API documents: the probe fails at once."""


def _request(url: str, data: Any = None, auth: tuple[str, str] | None = None,
             timeout: float = 5.0) -> tuple[int, Any]:
    headers = {"Accept": "application/json"}
    body = None
    if data is not None:
        body = json.dumps(data).encode()
        headers["Content-Type"] = "application/json"
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(
            f"{auth[0]}:{auth[1]}".encode()).decode()
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            raw, status = response.read(), response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    except (urllib.error.URLError, OSError) as error:
        raise HTTPFailure(f"{url}: {getattr(error, 'reason', error)}") from error
    try:
        return status, json.loads(raw) if raw else None
    except json.JSONDecodeError:
        return status, raw.decode(errors="replace")


async def request(url: str, data: Any = None, auth: tuple[str, str] | None = None) -> Any:
    """GET (or POST `data` as JSON); the decoded body of a 2xx answer, else HTTPFailure."""
    status, body = await asyncio.to_thread(_request, url, data, auth)
    if not 200 <= status < 300:
        raise HTTPFailure(f"{url}: HTTP {status}: {str(body)[:300]}")
    return body


def answer_field(body: Any, url: str, *path: str) -> Any:
    """body[path[0]][path[1]]...; MalformedAnswer naming the URL and the field otherwise."""
    value = body
    for depth, key in enumerate(path):
        if not isinstance(value, dict) or key not in value:
            raise MalformedAnswer(f"{url}: the answer has no field {'.'.join(path[:depth + 1])}: "
                                  f"{str(body)[:200]}")
        value = value[key]
    return value


async def fetch_field(url: str, *path: str, auth: tuple[str, str] | None = None) -> Any:
    """GET `url` and read one field of its JSON answer (answer_field)."""
    return answer_field(await request(url, auth=auth), url, *path)


async def poll(probe: Callable[[], Awaitable[Any]], timeout: float,
               died: Callable[[], str] = lambda: "") -> tuple[Any, str]:
    """Call `probe` until it returns a truthy value or `timeout` passes.

    Returns (value, "") or (None, why it gave up: the last error, the line a dead server
    left, or a malformed answer, the last two at once rather than at the deadline)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    pause = FIRST_POLL
    while True:
        message = died()
        if message:
            return None, message
        try:
            value = await probe()
            if value:
                return value, ""
        except HTTPFailure as error:
            last = str(error)
        except MalformedAnswer as error:
            return None, f"malformed answer: {error}"
        except (KeyError, TypeError, IndexError, AttributeError) as error:
            return None, f"could not read the answer: {type(error).__name__}: {error}"
        if time.monotonic() >= deadline:
            return None, f"not within {timeout:.0f}s: {last}"
        await asyncio.sleep(pause)
        pause = min(pause * 2, POLL)
