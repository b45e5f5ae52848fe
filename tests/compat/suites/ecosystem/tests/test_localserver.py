import urllib.request


def test_http_server(httpserver):
    httpserver.serve_content("served from the worker's own loopback")
    with urllib.request.urlopen(httpserver.url, timeout=10) as response:
        assert response.read() == b"served from the worker's own loopback"
