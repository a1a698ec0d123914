"""Reading a WSDL from a file or a URL for registration (docs/spec/wsdl.md §2 step 0).

The only I/O around :mod:`sild.soap.wsdl`: a file is read whole (a folder or a
missing file is refused), a URL is fetched once with aiohttp, within a time and a
size limit, with TLS verified. Nothing is parsed here.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from sild.errors import ConfigurationError, WsdlDownloadFailed
from sild.soap.wsdl import MAX_WSDL_BYTES

__all__ = ["FETCH_TIMEOUT", "is_url", "read_wsdl"]

# X-Road's WSDL download waits about as long; a WSDL service that needs more is down.
FETCH_TIMEOUT = 10.0


def is_url(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def read_wsdl(source: str, *, timeout: float = FETCH_TIMEOUT) -> bytes:
    """The bytes of the WSDL at ``source``: an http(s) URL or a file path."""
    if is_url(source):
        return asyncio.run(_fetch(source, timeout))
    path = Path(source)
    if path.is_dir():
        raise ConfigurationError(f"cannot read {source}: it is a folder, not a WSDL file")
    try:
        size = path.stat().st_size
        if size > MAX_WSDL_BYTES:
            raise ConfigurationError(f"{source} is larger than {MAX_WSDL_BYTES} bytes")
        return path.read_bytes()
    except OSError as e:
        raise ConfigurationError(f"cannot read {source}: {e.strerror}") from e


async def _fetch(url: str, seconds: float) -> bytes:
    try:
        async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=seconds)) as session, \
                session.get(url, allow_redirects=False) as r:
            if r.status != 200:
                raise WsdlDownloadFailed(f"cannot download the WSDL from {url}: "
                                         f"HTTP {r.status}")
            chunks, size = [], 0
            async for chunk in r.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > MAX_WSDL_BYTES:
                    break  # not read further
                chunks.append(chunk)
    except (aiohttp.ClientError, ValueError) as e:
        raise WsdlDownloadFailed(f"cannot download the WSDL from {url}: "
                                 f"{e or type(e).__name__}") from e
    except TimeoutError as e:
        raise WsdlDownloadFailed(f"cannot download the WSDL from {url}: "
                                 f"no answer within {seconds:g} s") from e
    if size > MAX_WSDL_BYTES:
        raise WsdlDownloadFailed(f"the WSDL at {url} is larger than {MAX_WSDL_BYTES} bytes")
    return b"".join(chunks)
