"""Reading a calendar from an address a coordinator types: http or https only, to public
addresses and the networks the operator allows, each redirect checked again, and the
connection made to the very address that was checked (no second DNS answer in between)."""

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterable
from urllib.parse import urljoin, urlsplit

MAX_REDIRECTS = 5
REDIRECTS = {301, 302, 303, 307, 308}
# The well-known NAT64 prefix: 64:ff9b::a.b.c.d reaches a.b.c.d through a NAT64 gateway.
NAT64 = ipaddress.ip_network("64:ff9b::/96")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class FetchError(Exception):
    """Why a fetch failed, for the operator's log (the coordinator sees one generic message)."""


class Refused(FetchError):
    """The address is not one the app may reach."""


class TooLarge(FetchError):
    """The answer is longer than the limit."""


def parse_networks(value: str | Iterable[str] | None) -> tuple[Network, ...]:
    """The setting CALENDAR_FETCH_ALLOWED_NETWORKS as networks: a list of CIDRs (or one string
    of them, separated by commas or spaces); ValueError names an entry that is not one."""
    if not value:
        return ()
    items = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    networks = []
    for item in items:
        try:
            networks.append(ipaddress.ip_network(str(item).strip(), strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not a network like 10.20.0.0/16") from None
    return tuple(networks)


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64), which is what it reaches."""
    if address.version != 6:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _is_public(address: Address) -> bool:
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or getattr(address, "is_site_local", False)
    )


def may_connect(address: str | Address, allowed: Iterable[Network] = ()) -> bool:
    """Whether the app may open a connection to ``address``: a public one, or one inside an
    allowed network. Loopback, link-local (the cloud metadata address among them), private,
    shared (CGNAT), multicast, reserved and unspecified addresses are refused, in IPv4 and
    in every IPv6 form that reaches them."""
    if isinstance(address, str):
        address = ipaddress.ip_address(address)
    inner = _embedded_ipv4(address)
    forms = (address,) if inner is None else (address, inner)
    if any(form in network for form in forms for network in allowed):
        return True
    return _is_public(address if inner is None else inner)


def open_socket(host: str, port: int, timeout: float, allowed: Iterable[Network]) -> socket.socket:
    """A TCP connection to ``host``, made to an address it resolves to once every address it
    resolves to has been checked."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise FetchError(f"{host!r} does not resolve ({error})") from error
    refused = sorted({info[4][0] for info in found if not may_connect(info[4][0], allowed)})
    if refused:
        # A name with one internal address among public ones is refused whole.
        raise Refused(
            f"{host!r} resolves to {', '.join(refused)}: not a public address, nor in "
            "CALENDAR_FETCH_ALLOWED_NETWORKS"
        )
    problem: OSError | None = None
    for family, kind, proto, _, address in found:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
        except OSError as error:
            sock.close()
            problem = error
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise FetchError(f"no connection to {host!r} port {port} ({problem})")


class _Connection(http.client.HTTPConnection):
    """Connects only to a checked address; Host (and, over TLS, SNI and the certificate's
    name) stay the name the address gave."""

    allowed: tuple[Network, ...] = ()
    vetted: socket.socket | None = None

    def connect(self):
        self.sock = self.vetted = open_socket(self.host, self.port, self.timeout, self.allowed)


class _TLSConnection(http.client.HTTPSConnection, _Connection):
    """HTTPSConnection.connect wraps whatever _Connection.connect opened (see the MRO)."""

    def connect(self):
        super().connect()
        self.vetted = self.sock  # the TLS socket: the plain one it wrapped is detached


def get(
    url: str,
    *,
    allowed: Iterable[Network] = (),
    timeout: float = 10,
    deadline: float = 30,
    max_bytes: int = 2 * 1024 * 1024,
    headers: dict[str, str] | None = None,
) -> bytes:
    """The body of a 200 answer at ``url``, following at most MAX_REDIRECTS redirects, each to
    an address checked as the first; FetchError (Refused, TooLarge) says why not.

    ``timeout`` bounds each wait on the network, ``deadline`` the whole fetch.
    """
    allowed = tuple(allowed)
    ends = time.monotonic() + deadline
    context = ssl.create_default_context()
    for _ in range(MAX_REDIRECTS + 1):
        left = ends - time.monotonic()
        if left <= 0:
            raise FetchError("the redirects took longer than the fetch may")
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise Refused(f"the scheme {scheme!r} is not http or https")
        if parts.username is not None or parts.password is not None:
            raise Refused("the address carries a user name or password")
        try:
            host, port = parts.hostname, parts.port
        except ValueError as error:
            raise FetchError(f"the address cannot be read ({error})") from error
        if not host:
            raise FetchError("the address names no host")
        if scheme == "https":
            connection = _TLSConnection(host, port, timeout=min(timeout, left), context=context)
        else:
            connection = _Connection(host, port, timeout=min(timeout, left))
        connection.allowed = allowed
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        response = None
        try:
            connection.request("GET", target, headers=headers or {})
            response = connection.getresponse()
            if response.status in REDIRECTS:
                location = response.getheader("Location", "").strip()
                if not location:
                    raise FetchError(f"{host!r} answered {response.status} with no Location")
                url = urljoin(url, location)
                continue
            if response.status != 200:
                raise FetchError(f"{host!r} answered {response.status} {response.reason}")
            return _read(response, connection.vetted, timeout, ends, max_bytes)
        except (OSError, http.client.HTTPException, ValueError, UnicodeError) as error:
            # OSError: refused, unreachable, timed out, TLS (ssl.SSLError is one).
            raise FetchError(f"{host!r}: {type(error).__name__} {error}") from error
        finally:
            if response is not None:
                response.close()  # the response holds the socket once the server will close
            connection.close()
    raise Refused(f"more than {MAX_REDIRECTS} redirects")


def _read(response, sock, timeout: float, ends: float, max_bytes: int) -> bytes:
    chunks, size = [], 0
    while True:
        left = ends - time.monotonic()
        if left <= 0:
            raise FetchError("the answer took longer than the fetch may")
        sock.settimeout(min(timeout, left))
        chunk = response.read1(min(64 * 1024, max_bytes + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(f"the answer is longer than {max_bytes} bytes")
