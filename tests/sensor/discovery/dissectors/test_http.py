"""HTTP/1.x: a client's User-Agent and Host, a server's Server header, head only."""

from __future__ import annotations

from tests.sensor.discovery.dissectors.frames import A4, B4, Case, about, collect, tcp4

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"


HTTP_REQUEST = (
    b"GET /index.html HTTP/1.1\r\nHost: intranet.corp.example\r\nUser-Agent: "
    + UA.encode()
    + b"\r\nAccept: text/html\r\nX-Forwarded-Host: proxy.example\r\n\r\n"
)


HTTP_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\nServer: nginx/1.22.1\r\nContent-Length: 0\r\n\r\n"
)


def _cases() -> list[Case]:
    return [
        Case(
            "http",
            tcp4(50000, 80),
            HTTP_REQUEST,
            {("http", "user_agent", UA), ("http", "host", "intranet.corp.example")},
            early_end=HTTP_REQUEST.index(b"\r\nAccept") + 2,
            early={("http", "user_agent", UA), ("http", "host", "intranet.corp.example")},
        ),
        Case(
            "http",
            tcp4(80, 50000),
            HTTP_RESPONSE,
            {("http", "server", "nginx/1.22.1"), ("http", "service", ("tcp", 80, "nginx/1.22.1"))},
        ),
    ]


CASES = _cases()


def test_http_request_tells_about_both_ends() -> None:
    facts, _ = collect([tcp4(50000, 8080)(HTTP_REQUEST.replace(b"GET", b"POST"))])
    assert about(facts, A4) == {("http", "user_agent", UA), ("http", "host", "intranet.corp.example")}
    assert about(facts, B4) == {("http", "service", ("tcp", 8080, "http"))}


def test_http_response_without_server_is_still_a_service() -> None:
    facts, _ = collect([tcp4(8000, 50000)(b"HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\n\r\nServer: no")])
    assert about(facts, A4) == {("http", "service", ("tcp", 8000, "http"))}


def test_http_bare_line_feeds() -> None:
    """Some embedded clients end their lines with LF alone."""
    request = b"GET / HTTP/1.0\nUser-Agent: Wget/1.12 (linux-gnu)\nHost: 10.1.1.20\n\nuser-agent: body"
    facts, _ = collect([tcp4(50000, 80)(request)])
    assert about(facts, A4) == {("http", "user_agent", "Wget/1.12 (linux-gnu)"), ("http", "host", "10.1.1.20")}


def test_http_body_is_not_headers() -> None:
    request = b"POST /x HTTP/1.1\r\nHost: a.example\r\n\r\nuser-agent: not-a-header\r\n"
    facts, _ = collect([tcp4(50000, 80)(request)])
    assert about(facts, A4) == {("http", "host", "a.example")}
