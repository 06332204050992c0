"""Reading a data file from a local path, an https URL or an S3 object, with bounded waits.

One reader (fsspec) for the three, with a connect and a read timeout on every
download: a server that accepts the connection and never answers hung
``--data`` for nine minutes without a word.  When reading fails, the message
says what failed (refused, timed out, not found, not parquet) with the URL:
fsspec reports a refused connection as a missing file, so the cause is looked
for in the exception's chain.
"""

from __future__ import annotations

import asyncio
import os

import aiohttp
import fsspec
import pandas as pd

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0
"""Longest silence while downloading, not the whole download's length."""


class Unreadable(Exception):
    """Why a source could not be read, in words; callers add what to do."""


def storage_options(source: str) -> dict:
    """fsspec options: timeouts for https and S3, the S3 endpoint of SSP Cloud-like platforms."""
    if source.startswith(("http://", "https://")):
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=CONNECT_TIMEOUT_S, sock_read=READ_TIMEOUT_S
        )
        return {"client_kwargs": {"timeout": timeout}}
    if not source.startswith("s3://"):
        return {}
    options: dict = {
        "config_kwargs": {
            "connect_timeout": CONNECT_TIMEOUT_S,
            "read_timeout": READ_TIMEOUT_S,
            "retries": {"max_attempts": 2},
        }
    }
    endpoint = os.environ.get("AWS_S3_ENDPOINT")
    if endpoint:
        if not endpoint.startswith(("http://", "https://")):
            endpoint = f"https://{endpoint}"
        options["client_kwargs"] = {"endpoint_url": endpoint}
    return options


def _causes(exc: BaseException) -> list[BaseException]:
    chain, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    return chain


def why_unreadable(exc: BaseException, source: str) -> str:
    """What went wrong, from the most telling exception in the chain."""
    chain = _causes(exc)
    if any(isinstance(e, asyncio.TimeoutError | TimeoutError) for e in chain) or any(
        "timeout" in type(e).__name__.lower() for e in chain
    ):
        return f"no answer from {source} within {READ_TIMEOUT_S:g} s (timed out)"
    if any(isinstance(e, aiohttp.ClientConnectorError | ConnectionRefusedError) for e in chain):
        return f"cannot connect to {source} (connection refused or host unreachable)"
    if any("EndpointConnectionError" in type(e).__name__ for e in chain):
        return f"cannot connect to the S3 endpoint for {source}"
    if isinstance(exc, FileNotFoundError):
        return f"no such file: {source}"
    return " ".join(str(exc).split()).rstrip(".") or type(exc).__name__


def read_frame(source: str) -> pd.DataFrame:
    """A parquet or CSV file (by its extension) as a DataFrame of strings for CSV."""
    lower = source.lower().split("?")[0]
    try:
        with fsspec.open(source, "rb", **storage_options(source)) as handle:
            if lower.endswith((".csv", ".csv.gz", ".txt")):
                return pd.read_csv(handle, dtype=str, keep_default_na=False)
            return pd.read_parquet(handle)
    except (TimeoutError, OSError, ValueError, ImportError, aiohttp.ClientError) as exc:
        raise Unreadable(why_unreadable(exc, source)) from exc
