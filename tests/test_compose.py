"""The deployment files, without a Docker engine: compose.yaml, service/Dockerfile, db/.

`docker-compose config` (Debian's docker-compose package, 1.29) validates and interpolates
compose.yaml. It prints every service whatever the profiles, so the tests apply the profile rules of
Docker Compose v2 themselves: enabled services are those without a profile plus those of the active
profiles, and a service may depend only on enabled services.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

# docker-compose config, or a look at the Dockerfile.
pytestmark = pytest.mark.system
ROOT = Path(__file__).resolve().parent.parent
SECRETS = {
    "SECRET_KEY": "test-secret-key-0123456789abcdef",
    "SKILL_SECRET": "test-skill-secret",
    "POSTGRES_PASSWORD": "testpassword123",
    "PUBLIC_BASE_URL": "https://bot.example.com",
}
PROFILES = [(), ("multi",), ("loadtest",), ("multi", "loadtest")]
# Services that run once and exit; everything else runs for good and needs a healthcheck, except
# the notifier: it offers no cheap probe (compose.yaml says why) and must turn off the image's.
ONE_SHOT = {"migrate"}
NO_HEALTHCHECK = {"notifier"}


def docker_compose() -> str:
    found = shutil.which("docker-compose")
    if not found:
        pytest.fail(
            "docker-compose not found: these tests validate compose.yaml with Debian's "
            "docker-compose package (apt-get install -y docker-compose)"
        )
    return found


def run_config(
    tmp_path: Path, profiles: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` with only `env` (secrets by default): no .env, no caller's variables."""
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    command = [docker_compose(), "--project-directory", str(ROOT), "-f", str(ROOT / "compose.yaml")]
    command += ["--env-file", str(env_file)]
    for profile in profiles:
        command += ["--profile", profile]
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **SECRETS, **(env or {})}
    return subprocess.run(
        [*command, "config"], capture_output=True, text=True, env=environment, timeout=60
    )


def parse_yaml(text: str) -> dict[str, Any]:
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        # PyYAML is not a dev dependency; docker-compose's own interpreter always has it.
        interpreter = Path(docker_compose()).read_text().splitlines()[0].removeprefix("#!").split()
        script = "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"
        done = subprocess.run(
            [*interpreter, "-c", script], input=text, capture_output=True, text=True, check=True
        )
        return dict(json.loads(done.stdout))
    return dict(yaml.safe_load(text))


def enabled(cfg: dict[str, Any], profiles: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """The services Docker Compose v2 starts with these profiles."""
    return {
        name: service
        for name, service in cfg["services"].items()
        if not service.get("profiles") or set(service["profiles"]) & set(profiles)
    }


def app_nodes(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Services that nginx reaches as `app`: the service itself and those aliased to it."""
    return {
        name: service
        for name, service in services.items()
        if name == "app"
        or "app" in ((service.get("networks") or {}).get("default") or {}).get("aliases", [])
    }


def replicas(service: dict[str, Any]) -> int:
    return int(service.get("deploy", {}).get("replicas", 1))


def cpu_limit(service: dict[str, Any]) -> float:
    limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
    return float(limits.get("cpus") or service.get("cpus") or 0)


# Every `docker-compose config` run this module needs: (profiles, extra environment).
RUNS: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    **{"+".join(profiles) or "default": (profiles, {}) for profiles in PROFILES},
    "no-secret-key": ((), {"SECRET_KEY": ""}),
    "overrides": (
        ("multi",),
        {"APP_EXTRA_NODES": "4", "APP_CPUS": "0.5", "NGINX_UPSTREAM_RESOLVE": "", "NGINX_RESOLVER": ""},
    ),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    """All runs at once: each is a second of Python start-up."""
    tmp = tmp_path_factory.mktemp("compose")
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {key: pool.submit(run_config, tmp, *run) for key, run in RUNS.items()}
        return {key: future.result() for key, future in futures.items()}


def parsed(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    return parse_yaml(done.stdout)


@pytest.fixture(scope="module")
def configs(
    runs: dict[str, subprocess.CompletedProcess[str]],
) -> dict[tuple[str, ...], dict[str, Any]]:
    return {profiles: parsed(runs["+".join(profiles) or "default"]) for profiles in PROFILES}


@pytest.mark.parametrize("profiles", PROFILES, ids=lambda p: "+".join(p) or "default")
def test_every_profile_is_valid_and_depends_only_on_enabled_services(
    configs: dict[tuple[str, ...], dict[str, Any]], profiles: tuple[str, ...]
) -> None:
    services = enabled(configs[profiles], profiles)
    assert {"db", "migrate", "app", "nginx"} <= services.keys()
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            # Compose v2 refuses a dependency on a service its profiles leave out.
            assert dependency in services, f"{name} depends on {dependency}, disabled here"


def test_a_missing_secret_stops_compose_with_a_message(
    runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    done = runs["no-secret-key"]
    assert done.returncode != 0
    assert "set SECRET_KEY in .env" in done.stderr
    text = (ROOT / "compose.yaml").read_text()
    for name in SECRETS:
        assert "${" + name + ":?set " + name + " in .env" in text, name


def test_only_nginx_publishes_ports_and_locust_only_on_localhost(
    configs: dict[tuple[str, ...], dict[str, Any]],
) -> None:
    services = configs[("multi", "loadtest")]["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"nginx", "locust-master"}
    for port in services["locust-master"]["ports"]:
        assert str(port).startswith("127.0.0.1:"), port


def test_long_running_services_have_healthchecks_and_conditions(
    configs: dict[tuple[str, ...], dict[str, Any]],
) -> None:
    services = configs[("multi", "loadtest")]["services"]
    for name, service in services.items():
        if name in NO_HEALTHCHECK:
            # Compose v2 prints `disable: true`, docker-compose 1.29 `test: [NONE]`.
            check = service.get("healthcheck", {})
            assert check.get("disable") is True or check.get("test") == ["NONE"], (name, check)
        elif name not in ONE_SHOT:
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for dependency, rule in service.get("depends_on", {}).items():
            expected = "service_completed_successfully" if dependency in ONE_SHOT else (
                "service_healthy"
            )
            assert rule.get("condition") == expected, (name, dependency, rule)


def test_single_runs_one_node_and_multi_three_each_with_a_cpu_limit(
    configs: dict[tuple[str, ...], dict[str, Any]],
) -> None:
    single = app_nodes(enabled(configs[()], ()))
    assert sum(map(replicas, single.values())) == 1
    multi = app_nodes(enabled(configs[("multi",)], ("multi",)))
    assert sum(map(replicas, multi.values())) >= 3
    for name, service in multi.items():
        assert cpu_limit(service) > 0, f"{name} has no CPU limit"
        # The same node everywhere: one image, one environment.
        assert service["environment"] == multi["app"]["environment"]
        assert service["image"] == multi["app"]["image"]


def test_node_count_and_cpu_limit_are_configurable(
    runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    cfg = parsed(runs["overrides"])
    nodes = app_nodes(enabled(cfg, ("multi",)))
    assert sum(map(replicas, nodes.values())) == 5
    assert {cpu_limit(service) for service in nodes.values()} == {0.5}


def test_the_app_gets_every_setting_of_env_example_it_reads(
    configs: dict[tuple[str, ...], dict[str, Any]],
) -> None:
    environment = configs[()]["services"]["app"]["environment"]
    assert environment["DATABASE_URL"] == (
        f"postgresql://surveybot:{SECRETS['POSTGRES_PASSWORD']}@db:5432/surveybot"
    )
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if re.match(r"^[A-Z_]+=", line)
    )
    # The container listens where the image says (BIND), on the compose database.
    not_for_the_app = {"DATABASE_URL", "SQLITE_PATH", "HOST", "PORT"}
    compose_only = {name for name in example if name not in environment}
    app_settings = {name for name in example if name not in not_for_the_app} - compose_only
    assert app_settings >= {"SECRET_KEY", "SKILL_SECRET", "DB_POOL_MAX", "WORKERS"}
    for name in compose_only - not_for_the_app:
        # Every other line of .env.example is read by compose.yaml itself.
        assert "${" + name in (ROOT / "compose.yaml").read_text(), name


@pytest.mark.parametrize("profiles", PROFILES, ids=lambda p: "+".join(p) or "default")
def test_one_notifier_runs_beside_the_app_with_every_reminder_setting(
    configs: dict[tuple[str, ...], dict[str, Any]], profiles: tuple[str, ...]
) -> None:
    services = enabled(configs[profiles], profiles)
    notifier, app = services["notifier"], services["app"]
    assert notifier["command"] == ["surveybot", "notifier"] and replicas(notifier) == 1
    assert notifier["image"] == app["image"] and notifier["restart"] == app["restart"]
    assert notifier["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }
    assert not notifier.get("ports")
    example = (ROOT / ".env.example").read_text()
    # Commented or not: reminders are off until someone sets the key and the bot id.
    reminder_settings = set(re.findall(r"^#?((?:KAKAO|REMINDER)_[A-Z_]+)=", example, re.M))
    assert {"KAKAO_REST_API_KEY", "KAKAO_BOT_ID", "REMINDER_RATE_PER_SECOND"} <= reminder_settings
    for name in reminder_settings | {"DATABASE_URL", "SURVEYBOT_ENV", "LOG_FORMAT"}:
        # The app needs to know whether reminders are on, and checks the settings the same way.
        assert notifier["environment"][name] == app["environment"][name], name
    assert notifier["environment"]["KAKAO_REST_API_KEY"] == ""  # unset: off, and it idles
    # It answers no skill call (no SKILL_SECRET) and signs nothing (no SECRET_KEY).
    assert not {"SECRET_KEY", "SKILL_SECRET"} & notifier["environment"].keys()


def test_nginx_gets_every_template_variable_and_its_files(
    configs: dict[tuple[str, ...], dict[str, Any]],
) -> None:
    nginx = configs[()]["services"]["nginx"]
    environment = nginx["environment"]
    # The image leaves an undefined ${VAR} in place: each one must be defined.
    templates = [*(ROOT / "nginx" / "templates").glob("*.template"),
                 ROOT / "nginx" / "surveybot-https.conf.template",
                 ROOT / "nginx" / "main.conf.template"]  # fmt: skip
    used = {m for t in templates for m in re.findall(r"\$\{(SURVEYBOT_\w+)\}", t.read_text())}
    assert used and used <= environment.keys()
    assert environment["NGINX_ENVSUBST_FILTER"] == "SURVEYBOT_"
    assert environment["SURVEYBOT_UPSTREAM_SERVERS"].startswith("server app:8000 resolve ")
    assert "resolver 127.0.0.11" in environment["SURVEYBOT_RESOLVER"]
    for volume in nginx["volumes"]:
        source = volume.split(":")[0]
        if source.startswith(str(ROOT / "nginx")):
            assert Path(source).exists(), source
    mounted = {volume.split(":")[1]: volume.split(":")[0] for volume in nginx["volumes"]}
    assert "/etc/nginx/conf.d/default.conf" in mounted
    assert environment["SURVEYBOT_TLS_DIR"] in mounted
    # The native stack's main configuration (4096 connections per worker, not the image's 1024),
    # rendered over the image's nginx.conf by the hook at its default paths.
    assert mounted["/etc/nginx/surveybot-main.conf.template"] == str(
        ROOT / "nginx" / "main.conf.template"
    )
    hook = ROOT / "nginx" / "35-surveybot-main.sh"
    assert mounted["/docker-entrypoint.d/35-surveybot-main.sh"] == str(hook)
    assert "/etc/nginx/surveybot-main.conf.template" in hook.read_text()
    assert environment["SURVEYBOT_NGINX_ERROR_LOG"] == "stderr"  # docker's log


def test_faults_are_noticed_quickly(configs: dict[tuple[str, ...], dict[str, Any]]) -> None:
    services = configs[("multi",)]["services"]
    for name, node in app_nodes(enabled(configs[("multi",)], ("multi",))).items():
        # Healthy means ready: /readyz asks the database.
        assert any("/readyz" in part for part in node["healthcheck"]["test"]), name
    nginx = services["nginx"]["environment"]
    # One failed connect or 503 takes a node out for 1 s; addresses are looked up every 2 s.
    assert nginx["SURVEYBOT_UPSTREAM_SERVERS"].endswith(" max_fails=1 fail_timeout=1s;")
    assert " valid=2s " in nginx["SURVEYBOT_RESOLVER"]
    # The migration job waits, bounded, for a database that is (re)starting.
    assert services["migrate"]["environment"]["DB_MIGRATE_WAIT_SECONDS"] == "60"


def test_resolve_can_be_turned_off_for_an_older_nginx(
    runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    cfg = parsed(runs["overrides"])
    environment = cfg["services"]["nginx"]["environment"]
    assert environment["SURVEYBOT_UPSTREAM_SERVERS"] == (
        "server app:8000 max_fails=1 fail_timeout=1s;"
    )
    assert environment["SURVEYBOT_RESOLVER"] == ""


def postgres_settings() -> dict[str, str]:
    """`name = value` lines of db/postgresql.conf (values unquoted, comments dropped)."""
    text = (ROOT / "db" / "postgresql.conf").read_text()
    pattern = r"^(\w+)\s*=\s*('[^']*'|[^\s#]+)"
    return {name: value.strip("'") for name, value in re.findall(pattern, text, re.M)}


def test_postgres_uses_the_tuned_settings_within_the_connection_budget(
    configs: dict[tuple[str, ...], dict[str, Any]],
) -> None:
    cfg = configs[("multi",)]
    db = cfg["services"]["db"]
    assert "config_file=/etc/postgresql/postgresql.conf" in db["command"]
    assert any(v.endswith(":/etc/postgresql/postgresql.conf:ro") for v in db["volumes"])
    settings = postgres_settings()
    assert settings["listen_addresses"] == "*"
    nodes = app_nodes(enabled(cfg, ("multi",)))
    app = sum(
        replicas(s) * int(s["environment"]["WORKERS"]) * int(s["environment"]["DB_POOL_MAX"])
        for s in nodes.values()
    )
    notifier = 2  # its pool (surveybot.reminders.process)
    jobs = 3  # migrate, scripts/backup, one admin command or psql
    reserved = int(settings["superuser_reserved_connections"])
    assert app + notifier + jobs + reserved <= int(settings["max_connections"])


def test_dockerfile_installs_dependencies_before_the_code_and_runs_unprivileged() -> None:
    text = (ROOT / "service" / "Dockerfile").read_text()
    assert text.index("COPY service/pyproject.toml") < text.index("pip install -r")
    assert text.index("pip install -r") < text.index("COPY service/ service/")
    final = text[text.rindex("\nFROM ") :]
    assert re.search(r"^USER [1-9]\d*", final, re.M), "the final stage must not run as root"
    # Ready (the database answers), not merely alive.
    assert "HEALTHCHECK" in final and "/readyz" in final
    assert "SURVEYBOT_MIGRATIONS_DIR=/app/db" in final
    assert 'CMD ["surveybot", "serve", "--no-migrate"]' in final
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*") :][:3] == ["*", "!service/", "!db/"]
