"""The production deployment files: docker-compose.yml, Dockerfile, .env.example.

Docker cannot run here, so the files themselves are checked: the compose file parses, has every
service the nightly DAG needs (wired to each other the way the official Airflow 3 compose file
does it), pins every image, mounts only paths that exist, documents every variable it uses, has a
healthcheck on every long-running service and keeps the warehouse admin's URL away from the task
processes; the Dockerfile builds on apache/airflow:3.3.2 and installs the lock. The same services
run natively, as processes, in tests/dags/test_airflow_real.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from fixtures.nights import REPO

COMPOSE_TEXT = (REPO / "docker-compose.yml").read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict = COMPOSE["services"]
ENV_EXAMPLE = (REPO / ".env.example").read_text()
DOCS = (REPO / "docs" / "deployment.md").read_text()
DOCKERFILE = (REPO / "Dockerfile").read_text()

AIRFLOW_SERVICES = ("airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-triggerer", "airflow-worker")
REQUIRED_SERVICES = ("postgres", "warehouse-db", "redis", *AIRFLOW_SERVICES)
ONE_SHOT = {"airflow-init"}
# ${VAR}, ${VAR:-default}, ${VAR:?message}, ${VAR-default}; never $${...} (escaped for the container's shell)
VAR = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:[:]?[-?][^}]*)?\}")


def env_of(service: str) -> dict[str, str]:
    return {k: str(v) for k, v in (SERVICES[service].get("environment") or {}).items()}


def command_of(service: str) -> list[str]:
    cmd = SERVICES[service].get("command")
    return cmd.split() if isinstance(cmd, str) else list(cmd or [])


def test_compose_has_every_service_with_the_shared_airflow_anchor():
    assert set(REQUIRED_SERVICES) <= set(SERVICES), set(REQUIRED_SERVICES) - set(SERVICES)
    common = COMPOSE["x-airflow-common"]
    for name in AIRFLOW_SERVICES:
        s = SERVICES[name]
        assert s["image"] == common["image"] and s["build"] == common["build"], name  # one image, from the Dockerfile
        assert env_of(name)["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
    commands = {name: command_of(name) for name in AIRFLOW_SERVICES if name not in ONE_SHOT}
    assert commands == {
        "airflow-apiserver": ["api-server"], "airflow-scheduler": ["scheduler"],
        "airflow-dag-processor": ["dag-processor"], "airflow-triggerer": ["triggerer"],
        "airflow-worker": ["celery", "worker"],
    }


def test_every_airflow_command_and_the_worker_healthcheck_app_exist_in_airflow_3_3():
    from airflow.cli.cli_parser import get_parser

    parser = get_parser()
    for name, s in SERVICES.items():
        if s.get("image") == COMPOSE["x-airflow-common"]["image"] and name not in ONE_SHOT:
            parser.parse_args(command_of(name))  # exits (SystemExit) on an unknown command
    parser.parse_args(["jobs", "check", "--job-type", "DagProcessorJob", "--hostname", "h"])
    parser.parse_args(["db", "migrate"])
    health = " ".join(SERVICES["airflow-worker"]["healthcheck"]["test"])
    module, attr = re.search(r"--app ([\w.]+)\.(\w+) inspect ping", health).groups()
    import importlib

    assert hasattr(importlib.import_module(module), attr)


def test_services_are_wired_to_each_other():
    env = env_of("airflow-scheduler")
    # metadata in `postgres`, the warehouse on its own server `warehouse-db`, Celery on `redis`
    assert "@postgres:5432/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"].startswith("postgresql+psycopg://")
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://") and "@postgres:" in env[
        "AIRFLOW__CELERY__RESULT_BACKEND"]
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:6379/")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert SERVICES["airflow-apiserver"]["ports"][0].endswith(":8080")
    for role in ("LOADER", "TRANSFORMER", "DISPATCHER", "REPORTER", "AUDITOR"):
        url = env[f"VIGIL_WAREHOUSE_URL_{role}"]
        assert url.startswith(f"postgresql://vigil_{role.lower()}:") and url.endswith("@warehouse-db:5432/vigil")
    assert env["VIGIL_WAREHOUSE"].endswith("@warehouse-db:5432/vigil")
    assert env["VIGIL_MODE"] == "${VIGIL_MODE:-production}"
    # everything Airflow waits for is healthy first; the services wait for the one-shot init
    for name in AIRFLOW_SERVICES:
        deps = SERVICES[name]["depends_on"]
        for dep in ("postgres", "redis", "warehouse-db"):
            assert deps[dep]["condition"] == "service_healthy", (name, dep)
        if name not in ONE_SHOT:
            assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
    for name, s in SERVICES.items():
        for dep, cond in (s.get("depends_on") or {}).items():
            assert dep in SERVICES, (name, dep)
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[dep], f"{name} waits for {dep} to be healthy; it has no healthcheck"


def test_init_migrates_airflow_and_creates_the_warehouse_roles_and_only_it_holds_the_admin_url():
    script = command_of("airflow-init")[-1]
    assert "airflow db migrate" in script and "python -m vigil.store.roles" in script
    init_env = env_of("airflow-init")
    assert init_env["VIGIL_WAREHOUSE_ADMIN_URL"].startswith("postgresql://vigil_admin:")
    assert SERVICES["warehouse-db"]["environment"]["POSTGRES_USER"] == "vigil_admin"
    from vigil.store.roles import ADMIN_URL_ENV, PASSWORD_ENV, ROLES

    assert ADMIN_URL_ENV == "VIGIL_WAREHOUSE_ADMIN_URL"
    assert {PASSWORD_ENV.format(r.upper()) for r in ROLES} <= set(init_env)
    airflow_image = COMPOSE["x-airflow-common"]["image"]
    for name, s in SERVICES.items():
        if name != "airflow-init" and s.get("image") == airflow_image:  # where tasks (and their code) run
            env = env_of(name)
            assert "VIGIL_WAREHOUSE_ADMIN_URL" not in env, name
            assert not any("vigil_admin" in v or "VIGIL_WAREHOUSE_ADMIN_PASSWORD" in v for v in env.values()), name
            assert not any(k.startswith("VIGIL_ROLE_PASSWORD_") for k in env), name


def test_images_are_pinned():
    for name, s in SERVICES.items():
        image = s.get("image")
        assert image, f"{name} has no image"
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest" and re.search(r"\d", tag), f"{name}: {image} is not pinned"
    assert re.search(r"^FROM apache/airflow:3\.3\.2(-python3\.1[12])?\s*$", DOCKERFILE, re.M), "Dockerfile FROM"
    assert len(re.findall(r"^FROM ", DOCKERFILE, re.M)) == 1


def test_dockerfile_installs_the_lock_and_the_project():
    lock = (REPO / "requirements.lock").read_text()
    assert re.search(r"^apache-airflow==3\.3\.2$", lock, re.M), "the lock and the image disagree on Airflow"
    assert re.search(r"^RUN pip install [^\n]*-r requirements\.lock", DOCKERFILE, re.M)
    assert re.search(r"^COPY [^\n]*requirements\.lock", DOCKERFILE, re.M)
    assert re.search(r"pip install [^\n]*--no-deps -e \.", DOCKERFILE)
    for line in re.findall(r"^COPY (?:--\S+ )*(.+)$", DOCKERFILE, re.M):
        for src in line.split()[:-1]:
            assert (REPO / src).exists(), f"Dockerfile copies {src}, which does not exist"
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".venv" in ignored  # no secrets, no local venv in the build context


def test_mounted_host_paths_exist_and_named_volumes_are_declared():
    declared = set(COMPOSE.get("volumes") or {})
    seen_host_paths = []
    for name, s in SERVICES.items():
        for v in s.get("volumes") or []:
            source = v.split(":")[0]
            if source.startswith((".", "/")):
                seen_host_paths.append(source)
                assert (REPO / source).exists(), f"{name} mounts {source}, which is not in the repository"
            else:
                assert source in declared, f"{name} uses volume {source}, not declared"
    assert {"./dags", "./config"} <= set(seen_host_paths)


def test_healthchecks_on_every_long_running_service():
    for name, s in SERVICES.items():
        if name in ONE_SHOT:
            assert s.get("restart") == "no"
            continue
        hc = s.get("healthcheck")
        assert hc and hc.get("test"), f"{name} has no healthcheck"
        assert hc["test"][0] in ("CMD", "CMD-SHELL"), name
        assert s.get("restart") == "always", name
    assert env_of("airflow-scheduler")["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"  # :8974/health


def test_every_variable_the_compose_file_uses_is_documented():
    used = set(VAR.findall(COMPOSE_TEXT))
    assert {"VIGIL_PSEUDONYMISATION_KEY", "AIRFLOW_FERNET_KEY", "VIGIL_WAREHOUSE_ADMIN_PASSWORD"} <= used
    example = dict(re.findall(r"^([A-Z_][A-Z0-9_]*)=(.*)$", ENV_EXAMPLE, re.M))
    missing_example = sorted(used - set(example))
    assert not missing_example, f"not in .env.example: {missing_example}"
    missing_docs = sorted(v for v in used if f"`{v}`" not in DOCS)
    assert not missing_docs, f"not in docs/deployment.md: {missing_docs}"
    unused = sorted(set(example) - used)
    assert not unused, f".env.example documents variables the compose file never uses: {unused}"


def test_env_example_holds_no_secret_and_env_is_ignored():
    example = dict(re.findall(r"^([A-Z_][A-Z0-9_]*)=(.*)$", ENV_EXAMPLE, re.M))
    secrets = [k for k in example if re.search(r"PASSWORD|SECRET|KEY", k)]
    assert len(secrets) >= 9
    assert {k: v for k, v in example.items() if k in secrets and v.strip()} == {}
    # a required secret left empty stops `docker compose up` with a message (${VAR:?...})
    for name in ("VIGIL_PSEUDONYMISATION_KEY", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_DB_PASSWORD",
                 "VIGIL_WAREHOUSE_ADMIN_PASSWORD", "AIRFLOW_ADMIN_PASSWORD"):
        assert re.search(r"\$\{" + name + r":\?", COMPOSE_TEXT), name
    gitignore = (REPO / ".gitignore").read_text().split()
    assert ".env" in gitignore and "channels.env" in gitignore


@pytest.mark.parametrize("doc", ["README.md", "docs/deployment.md"])
def test_docs_link_the_deployment_guide_and_name_the_tested_adapters(doc):
    text = (REPO / doc).read_text()
    if doc == "README.md":
        assert "## Production deployment" in text and "docs/deployment.md" in text
    assert "DuckDB" in text and "PostgreSQL" in text


def test_compose_env_names_are_ones_vigil_reads():
    """A misspelt VIGIL_* variable would be silently ignored: each must be one the code knows."""
    import inspect

    from vigil import config

    from vigil.store import roles

    known = set(re.findall(r'"(VIGIL_[A-Z_]+)"', inspect.getsource(config)))
    known |= {f"VIGIL_WAREHOUSE_URL_{r.upper()}" for r in roles.ROLES}
    known |= {roles.PASSWORD_ENV.format(r.upper()) for r in roles.ROLES} | {roles.ADMIN_URL_ENV}
    known |= {config.KEY_ENV}
    for name in SERVICES:
        for key in env_of(name):
            if key.startswith("VIGIL_"):
                assert key in known, f"{name}: {key} is not read by Vigil"


def test_bootstrap_command_paths_exist():
    """`python -m vigil.store.roles` (airflow-init) is importable with a main()."""
    from vigil.store import roles

    assert callable(roles.main) and Path(roles.MIGRATIONS_DIR).is_dir() and roles.migrations()
