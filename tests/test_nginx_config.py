"""The nginx template: it renders to configurations `nginx -t` accepts, for compose and for the
native stack, with and without TLS; and a running nginx routes, limits and logs as designed."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devstack.nginx import load_render
from devstack.openbuilder import assert_valid_reply, reply_texts
from devstack.stack import Stack, StackConfig
from support.chat_helper import payload
from support.stack_fixtures import REPO, require_nginx

# nginx -t, openssl, and a native stack.
pytestmark = pytest.mark.system
NGINX = REPO / "nginx"
render = load_render()  # nginx/render.py

COMPOSE_RESOLVER = "resolver 127.0.0.11 valid=2s ipv6=off;"
MAIN_TEMPLATE = NGINX / "main.conf.template"  # the outer nginx.conf, compose's and the stack's


def _main_variables(root: Path, workers: str = "auto") -> dict[str, str]:
    """The main template's variables, with compose's paths moved into the test's folder (no
    `user nginx;`: there may be no such user here)."""
    return {
        "SURVEYBOT_NGINX_USER": "", "SURVEYBOT_NGINX_WORKERS": workers,
        "SURVEYBOT_NGINX_PID": str(root / "nginx.pid"), "SURVEYBOT_NGINX_ERROR_LOG": "stderr",
        "SURVEYBOT_NGINX_TEMP": str(root / "temp"),
    }  # fmt: skip


def _nginx() -> str:
    require_nginx()
    return shutil.which("nginx") or "/usr/sbin/nginx"


def _nginx_version() -> tuple[int, ...]:
    out = subprocess.run([_nginx(), "-v"], capture_output=True, text=True, timeout=10).stderr
    found = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out)
    assert found, out
    return tuple(int(part) for part in found.groups())


def _nginx_t(main_conf: Path) -> None:
    done = subprocess.run(
        [_nginx(), "-t", "-e", "stderr", "-p", f"{main_conf.parent}/", "-c", str(main_conf)],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + "\n" + main_conf.read_text()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A self-signed certificate for localhost and 127.0.0.1, as fullchain.pem + privkey.pem."""
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(folder / "privkey.pem"), "-out", str(folder / "fullchain.pem"),
         "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return folder


def _image_like(root: Path, variables: dict[str, str]) -> Path:
    """/etc/nginx as compose lays it out: nginx.conf from the main template, surveybot-locations.conf,
    and conf.d rendered from the templates (render.py standing in for the image's envsubst steps)."""
    (root / "temp").mkdir(parents=True)
    main = render.substitute(MAIN_TEMPLATE.read_text(), _main_variables(root))
    (root / "nginx.conf").write_text(main)
    shutil.copy(NGINX / "surveybot-locations.conf", root)
    render.render(NGINX / "templates", root / "conf.d", variables)
    return root / "nginx.conf"


def _compose_variables(tls_dir: str = "") -> dict[str, str]:
    # Compose passes `server app:8000 resolve ...`: `app` only resolves inside compose, and
    # `resolve` needs nginx >= 1.27.3 (Debian has 1.22), so the test uses a name that resolves
    # here and adds `resolve` only where nginx knows it.
    resolve = " resolve" if _nginx_version() >= (1, 27, 3) else ""
    return {
        "SURVEYBOT_UPSTREAM_SERVERS": f"server localhost:8000{resolve} max_fails=1 fail_timeout=1s;",
        "SURVEYBOT_RESOLVER": COMPOSE_RESOLVER,
        "SURVEYBOT_HTTP_PORT": "80",
        "SURVEYBOT_HTTPS_PORT": "443",
        "SURVEYBOT_TLS_DIR": tls_dir,
    }


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_compose_rendering_passes_nginx_t(tmp_path: Path, certificate: Path, tls: bool) -> None:
    conf = _image_like(tmp_path / "etc-nginx", _compose_variables(str(certificate) if tls else ""))
    https = tmp_path / "etc-nginx" / "conf.d" / render.HTTPS_CONF
    assert https.exists() == tls
    rendered = (tmp_path / "etc-nginx" / "conf.d" / "surveybot.conf").read_text()
    assert "${" not in rendered and COMPOSE_RESOLVER in rendered
    assert "$host" in (tmp_path / "etc-nginx" / "surveybot-locations.conf").read_text()
    _nginx_t(conf)


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_native_rendering_passes_nginx_t(tmp_path: Path, certificate: Path, tls: bool) -> None:
    folder = tmp_path / "nginx"
    (folder / "temp").mkdir(parents=True)
    shutil.copy(NGINX / "surveybot-locations.conf", folder)
    servers = "\n".join(
        f"server 127.0.0.1:{p} max_fails=1 fail_timeout=1s;" for p in (18001, 18002)
    )
    render.render(NGINX / "templates", folder / "conf.d", {
        "SURVEYBOT_UPSTREAM_SERVERS": servers, "SURVEYBOT_RESOLVER": "",
        "SURVEYBOT_HTTP_PORT": "127.0.0.1:18080", "SURVEYBOT_HTTPS_PORT": "127.0.0.1:18443",
        "SURVEYBOT_TLS_DIR": str(certificate) if tls else "",
    })  # fmt: skip
    main = render.substitute(MAIN_TEMPLATE.read_text(), {
        **_main_variables(folder, workers="1"),
        "SURVEYBOT_NGINX_ERROR_LOG": str(folder / "error.log"),
    })  # fmt: skip
    (folder / "nginx.conf").write_text(main)
    assert (folder / "conf.d" / render.HTTPS_CONF).exists() == tls
    _nginx_t(folder / "nginx.conf")


def test_render_substitutes_only_surveybot_variables(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "a.conf.template").write_text(
        "$host ${SURVEYBOT_A} $SURVEYBOT_A ${SURVEYBOT_NONE}x ${HOME}"
    )
    (tmp_path / render.HTTPS_TEMPLATE).write_text("tls ${SURVEYBOT_TLS_DIR}")
    out = tmp_path / "out"
    (out).mkdir()
    (out / render.HTTPS_CONF).write_text("stale")
    written = render.render(
        templates, out, {"SURVEYBOT_A": "1", "SURVEYBOT_TLS_DIR": str(tmp_path)}
    )
    assert written == [out / "a.conf"]
    assert (out / "a.conf").read_text() == "$host 1 1 x ${HOME}"
    assert not (out / render.HTTPS_CONF).exists()  # no certificate there: no HTTPS server


def test_render_command_line(tmp_path: Path, certificate: Path) -> None:
    out = tmp_path / "conf.d"
    done = subprocess.run(
        [sys.executable, str(NGINX / "render.py"), "--out", str(out), "SURVEYBOT_HTTP_PORT=8080",
         f"SURVEYBOT_TLS_DIR={certificate}", "SURVEYBOT_HTTPS_PORT=8443",
         "SURVEYBOT_UPSTREAM_SERVERS=server app:8000;"],
        capture_output=True, text=True, timeout=30, env={"PATH": os.environ["PATH"]},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "listen 8443 ssl http2" in (out / render.HTTPS_CONF).read_text()
    assert "server app:8000;" in (out / "surveybot.conf").read_text()


@pytest.mark.skipif(not shutil.which("envsubst"), reason="envsubst (gettext-base) not installed")
def test_image_hook_and_envsubst_render_like_render_py(tmp_path: Path, certificate: Path) -> None:
    """The image's own tools (envsubst, 40-surveybot-tls.sh) produce the files render.py does."""
    variables = _compose_variables(str(certificate))
    expected = tmp_path / "expected"
    render.render(NGINX / "templates", expected, variables)
    names = " ".join("${" + name + "}" for name in variables)  # the image lists defined names only
    template = (NGINX / "templates" / "surveybot.conf.template").read_text()
    env = {"PATH": os.environ["PATH"], **variables}
    done = subprocess.run(
        ["envsubst", names], input=template, capture_output=True, text=True, env=env, timeout=10
    )
    assert done.stdout == (expected / "surveybot.conf").read_text()

    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    hook_env = {**env, "SURVEYBOT_CONF_DIR": str(conf_d),
                "SURVEYBOT_HTTPS_TEMPLATE": str(NGINX / render.HTTPS_TEMPLATE)}  # fmt: skip

    def run_hook() -> None:
        hook = subprocess.run(
            ["sh", str(NGINX / "40-surveybot-tls.sh")],
            capture_output=True,
            text=True,
            env=hook_env,
            timeout=10,
        )
        assert hook.returncode == 0, hook.stderr

    run_hook()
    assert (conf_d / render.HTTPS_CONF).read_text() == (expected / render.HTTPS_CONF).read_text()
    hook_env["SURVEYBOT_TLS_DIR"] = str(tmp_path / "nothing")
    run_hook()
    assert not (conf_d / render.HTTPS_CONF).exists()  # certificate gone


@pytest.mark.skipif(not shutil.which("envsubst"), reason="envsubst (gettext-base) not installed")
def test_image_main_hook_renders_the_stacks_main_configuration(tmp_path: Path) -> None:
    """35-surveybot-main.sh writes over the image's nginx.conf what devstack renders natively."""
    variables = _main_variables(tmp_path)
    out = tmp_path / "nginx.conf"
    out.write_text("events { worker_connections 1024; }")  # the image's own
    env = {"PATH": os.environ["PATH"], **variables, "SURVEYBOT_MAIN_CONF": str(out),
           "SURVEYBOT_MAIN_TEMPLATE": str(MAIN_TEMPLATE)}  # fmt: skip
    hook = subprocess.run(["sh", str(NGINX / "35-surveybot-main.sh")], capture_output=True,
                          text=True, env=env, timeout=10)  # fmt: skip
    assert hook.returncode == 0, hook.stderr
    rendered = out.read_text()
    assert rendered == render.substitute(MAIN_TEMPLATE.read_text(), variables)
    assert "worker_connections 4096;" in rendered and "${" not in rendered
    assert os.access(NGINX / "35-surveybot-main.sh", os.X_OK)  # the image skips it otherwise


# --- a running nginx in front of one node --------------------------------------------------------


@pytest.fixture(scope="module")
def stack(module_stack_folder: Path, certificate: Path) -> Iterator[Stack]:
    require_nginx()
    config = StackConfig(
        nodes=1, workers=1, db="sqlite", tls_dir=str(certificate), log_level="WARNING"
    )
    with Stack.up(config, module_stack_folder) as running:
        yield running


def _raw_get(port: int, path: str) -> tuple[int, bytes]:
    """GET a path exactly as written (requests would normalise it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data


@pytest.mark.parametrize(
    "path",
    ["/", "/metrics", "/metrics/", "/admin", "/skill/x", "/healthz/x", "/exportsx", "/index.html"],
)
def test_unrouted_paths_are_404(stack: Stack, path: str) -> None:
    response = requests.get(stack.url + path, timeout=5)
    assert response.status_code == 404
    assert "X-Upstream" not in response.headers  # nginx answered, no node was asked


@pytest.mark.parametrize(
    "path",
    [
        "/exports/../metrics",
        "/exports/%2e%2e/metrics",
        "/metrics%2F..%2Fhealthz",
        "/healthz/../metrics",
    ],
)
def test_metrics_cannot_be_reached_by_tricks(stack: Stack, path: str) -> None:
    status, data = _raw_get(stack.port, path)
    assert b"# TYPE" not in data and b"# HELP" not in data, (status, data[:300])


def test_metrics_are_served_by_the_node_only(stack: Stack) -> None:
    direct = requests.get(stack.nodes[0].url + "/metrics", timeout=5)
    assert direct.status_code == 200 and "# HELP" in direct.text  # the scrape target
    assert requests.get(stack.url + "/metrics", timeout=5).status_code == 404


def test_routes_reach_the_app(stack: Stack) -> None:
    for path in ("/healthz", "/readyz"):
        response = requests.get(stack.url + path, timeout=5)
        assert (
            response.status_code == 200 and response.headers["X-Upstream"] == stack.nodes[0].address
        )
    for path in ("/exports/not-a-token", "/results/not-a-token", "/charts/not-a-token.png"):
        response = requests.get(stack.url + path, timeout=5)
        assert response.status_code == 403, path  # the app's refusal, not nginx's 404
        assert response.headers["X-Upstream"] == stack.nodes[0].address
    assert requests.post(stack.url + "/results/x", timeout=5).status_code == 405
    assert requests.get(stack.url + "/skill", timeout=5).status_code == 405
    assert requests.post(stack.url + "/healthz", timeout=5).status_code == 405


def test_request_id_and_json_access_log(stack: Stack) -> None:
    response = requests.post(
        stack.url + "/skill",
        json=payload("log-user", "메뉴"),
        headers={"X-Request-Id": "client-made"},
        timeout=5,
    )
    assert response.status_code == 200
    assert_valid_reply(response.json())
    request_id = response.headers["X-Request-Id"]  # the app echoes what nginx sent it
    assert re.fullmatch(r"[0-9a-f]{32}", request_id), request_id
    for route in ("exports", "results", "charts"):
        requests.get(f"{stack.url}/{route}/secret-token-value", timeout=5)
    lines = [json.loads(line) for line in (stack.nginx_dir / "access.log").read_text().splitlines()]
    entry = next(line for line in lines if line["request_id"] == request_id)
    assert entry["uri"] == "/skill" and entry["status"] == 200
    assert entry["upstream_addr"] == stack.nodes[0].address and entry["upstream_response_time"]
    assert not any("secret-token-value" in json.dumps(line) for line in lines)  # tokens not logged


def test_body_over_64k_is_refused_by_nginx(stack: Stack) -> None:
    headers = {"Content-Type": "application/json"}
    big = json.dumps(payload("big", "x" * 70_000)).encode()
    response = requests.post(stack.url + "/skill", data=big, headers=headers, timeout=5)
    assert response.status_code == 413 and "X-Upstream" not in response.headers
    fits = json.dumps(payload("big", "x" * 60_000)).encode()
    response = requests.post(stack.url + "/skill", data=fits, headers=headers, timeout=5)
    assert response.status_code == 200 and response.headers["X-Upstream"]


def test_https_with_the_self_signed_certificate(stack: Stack, certificate: Path) -> None:
    assert stack.https_url
    response = requests.get(
        stack.https_url + "/healthz", verify=str(certificate / "fullchain.pem"), timeout=5
    )
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert (
        requests.get(
            stack.https_url + "/metrics", verify=str(certificate / "fullchain.pem"), timeout=5
        ).status_code
        == 404
    )
    context = ssl.create_default_context(cafile=str(certificate / "fullchain.pem"))
    context.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", stack.https_port or 0), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.selected_alpn_protocol() == "h2"


def test_skill_gets_a_kakao_apology_when_no_node_answers(stack: Stack) -> None:
    stack.kill_node(0)  # the last test of the module: the stack is not needed whole afterwards
    response = requests.post(stack.url + "/skill", json=payload("u", "메뉴"), timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert_valid_reply(response.json())
    assert "죄송합니다" in "\n".join(reply_texts(response.json()))
    assert response.headers["X-Upstream-Status"].startswith("502")
    connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=5)
    connection.request("GET", "/healthz")
    assert connection.getresponse().status == 502  # only /skill is dressed as a Kakao reply
    connection.close()
