"""Nothing of Chard is reachable without Jupyter's authentication, XSRF protection and the
backend's secret, and no file outside the Jupyter root can be read through it."""

import http.client
import json
import os
import socket
import stat

import requests


def backend_env(pid):
    """The backend's environment as it started (readable only by its own user)."""
    with open(f"/proc/{pid}/environ", "rb") as f:
        pairs = [item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item]
    return {k.decode(): v.decode() for k, v in pairs}


def requests_seen(server):
    """How many requests the backend has received (this health request included)."""
    return server.health()["requests"]


def test_without_jupyters_token_nothing_reaches_the_backend(shared_server):
    before = requests_seen(shared_server)
    url = f"{shared_server.url}/chard/api"
    refused = [
        requests.get(f"{url}/health", timeout=10),
        requests.post(f"{url}/analyze", json={"path": "churn.ipynb"}, timeout=10),
        requests.get(f"{url}/health", params={"token": "wrong"}, timeout=10),
        requests.get(f"{url}/health", headers={"Authorization": "token wrong"}, timeout=10),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403, 403]
    for r in refused:
        assert "plan" not in r.text and "steps" not in r.text
    # Only our own two authenticated health requests reached the backend.
    assert requests_seen(shared_server) == before + 1


def test_cross_site_post_with_the_login_cookie_but_no_xsrf_token_is_refused(shared_server):
    browser = requests.Session()
    # Logging in with the token in the URL sets Jupyter's login cookie (and the _xsrf cookie).
    assert browser.get(f"{shared_server.url}/api/status", params={"token": shared_server.token}).ok
    browser.get(f"{shared_server.url}/login")  # a page: sets the _xsrf cookie
    assert any(c.name.startswith("username-") for c in browser.cookies), browser.cookies
    before = requests_seen(shared_server)
    # A form or fetch from another site: the browser sends the cookie, but cannot read _xsrf.
    forged = browser.post(f"{shared_server.url}/chard/api/analyze", json={"path": "churn.ipynb"}, timeout=10)
    assert forged.status_code == 403, forged.text
    # With the other site's Origin, jupyter_server refuses it before the XSRF check (as 404).
    forged_origin = browser.post(
        f"{shared_server.url}/chard/api/analyze",
        json={"path": "churn.ipynb"},
        headers={"Origin": "https://evil.example", "Referer": "https://evil.example/page"},
        timeout=10,
    )
    assert forged_origin.status_code in (403, 404), forged_origin.text
    assert "steps" not in forged.text + forged_origin.text
    assert requests_seen(shared_server) == before + 1
    # The same cookie with the XSRF token, as JupyterLab sends it, is accepted.
    xsrf = browser.cookies.get("_xsrf")
    assert xsrf, "Jupyter set no _xsrf cookie"
    genuine = browser.post(
        f"{shared_server.url}/chard/api/analyze",
        json={"path": "churn.ipynb"},
        headers={"X-XSRFToken": xsrf},
        timeout=30,
    )
    assert genuine.status_code == 200, genuine.text
    assert [s["name"] for s in genuine.json()["steps"]] == ["load_data", "split", "train_model"]


def test_analyze_reads_notebooks_inside_the_root(shared_server):
    (shared_server.root / "sub dir").mkdir(exist_ok=True)
    (shared_server.root / "sub dir" / "copy.ipynb").write_bytes((shared_server.root / "churn.ipynb").read_bytes())
    r = shared_server.api("POST", "analyze", json={"path": "sub dir/copy.ipynb"})
    assert r.status_code == 200, r.text
    assert r.json()["pipeline"]["name"]


def test_paths_outside_the_root_are_refused(shared_server):
    outside = shared_server.tmp / "outside.ipynb"
    outside.write_bytes((shared_server.root / "churn.ipynb").read_bytes())
    link = shared_server.root / "link.ipynb"
    if not link.exists():
        os.symlink(outside, link)
    linked_dir = shared_server.root / "linked"
    if not linked_dir.exists():
        os.symlink(shared_server.tmp, linked_dir)
    for path in ["../outside.ipynb", "/etc/passwd", str(outside), "link.ipynb", "linked/outside.ipynb",
                 "sub/../../outside.ipynb"]:
        r = shared_server.api("POST", "analyze", json={"path": path})
        assert r.status_code == 403, (path, r.status_code, r.text)
        error = r.json()["error"]
        assert error["code"] == "outside-root", (path, error)
        assert "root" in error["message"]
        assert "Traceback" not in r.text and "    at " not in r.text


def test_errors_are_json_without_stack_traces(shared_server):
    cases = [
        ("GET", "no-such-endpoint", None, 404, "not-found"),
        ("POST", "analyze", {"path": "missing.ipynb"}, 404, "no-such-file"),
        ("POST", "analyze", {"nope": 1}, 400, "bad-request"),
        ("GET", "analyze", None, 405, "method-not-allowed"),
    ]
    for method, endpoint, body, status, code in cases:
        r = shared_server.api(method, endpoint, json=body)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
        assert "    at " not in r.text
    (shared_server.root / "broken.ipynb").write_text("{not json")
    r = shared_server.api("POST", "analyze", json={"path": "broken.ipynb"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid-notebook", r.text


def test_the_backend_socket_refuses_requests_without_its_secret(shared_server):
    pid = shared_server.health()["pid"]
    env = backend_env(pid)
    sock = env["CHARD_BACKEND_SOCKET"]
    secret = env["CHARD_BACKEND_SECRET"]
    # Only the Jupyter server's user can reach the socket at all.
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(sock)).st_mode) == 0o700
    # The secret is not on the backend's command line (which every user can read).
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert secret.encode() not in f.read()

    def over_socket(headers):
        conn = UnixHTTPConnection(sock)
        conn.request("GET", "/chard/api/health", headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())

    assert over_socket({}) == (403, {"error": {"code": "forbidden", "message": "missing or wrong backend secret"}})
    assert over_socket({"X-Chard-Secret": "guess"})[0] == 403
    assert over_socket({"X-Chard-Secret": secret[:-1]})[0] == 403
    status, body = over_socket({"X-Chard-Secret": secret})
    assert status == 200 and body["pid"] == pid


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.path)
