"""Reaching an instance's gateway over HTTPS before any CA vouches for it: its certificate is self-signed on the
instance, which prints the certificate's SHA-256 on its console; a client trusts exactly that certificate."""

from __future__ import annotations

import re

import urllib3

TLS_LINE_PREFIX = "TM351-TLS:"
_FINGERPRINT = r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){31}"
_TLS_LINE = re.compile(re.escape(TLS_LINE_PREFIX) + rf"\s*sha256\s+({_FINGERPRINT})\b")


class FingerprintMismatch(Exception):
    """The server's certificate is not the one the instance reported: another machine, or someone in between."""


def normalise_fingerprint(fingerprint: str) -> str:
    """'AB:CD:…' (as openssl prints it) from any case, with or without colons."""
    digits = re.sub(r"[\s:]", "", fingerprint).upper()
    if not re.fullmatch(r"[0-9A-F]{64}", digits):
        raise ValueError(f"not a SHA-256 fingerprint: {fingerprint!r}")
    return ":".join(digits[i : i + 2] for i in range(0, 64, 2))


def fingerprint_from_console(output: str) -> str | None:
    """The fingerprint of the last TM351-TLS line in a console's text (the current certificate), or None."""
    found = _TLS_LINE.findall(output)
    return normalise_fingerprint(found[-1]) if found else None


def pinned_get(
    url: str, fingerprint: str, auth: tuple[str, str] | None = None, timeout: float = 10
) -> urllib3.BaseHTTPResponse:
    """GET an https URL from a server trusted only if its certificate's SHA-256 is `fingerprint`.

    The pin replaces the CA chain and the hostname check (the certificate is self-signed, often for a bare IP
    address): urllib3 compares it right after the handshake, before a byte of the request (or the login) is sent.
    Redirects are returned, not followed.
    """
    if not url.startswith("https://"):
        raise ValueError(f"pinned_get is for https URLs only: {url}")
    expected = normalise_fingerprint(fingerprint)
    headers = urllib3.make_headers(basic_auth=f"{auth[0]}:{auth[1]}") if auth else {}
    with urllib3.PoolManager(
        cert_reqs="CERT_NONE", assert_fingerprint=expected, assert_hostname=False, retries=False
    ) as pool:
        try:
            return pool.request("GET", url, headers=headers, timeout=timeout, redirect=False)
        except urllib3.exceptions.SSLError as error:
            if "Fingerprints did not match" in str(error):
                raise FingerprintMismatch(
                    f"{url}: the server's certificate is not the one its console reported (sha256 {expected}); "
                    "refusing to send anything to it."
                ) from error
            raise
