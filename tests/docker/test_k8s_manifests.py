"""The Kubernetes manifests in deploy/k8s: valid YAML, expected kinds, ports, probes, links."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

K8S_DIR = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
GATEWAY_PORT = 8000


def load_documents() -> dict[str, dict[str, Any]]:
    """Every document of every manifest, keyed by kind (each kind appears once)."""
    documents: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S_DIR.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            assert isinstance(document, dict), f"{path.name}: a document is not a mapping"
            kind = document["kind"]
            assert kind not in documents, f"{path.name}: second {kind}"
            documents[kind] = document
    return documents


@pytest.fixture(scope="module")
def docs() -> dict[str, dict[str, Any]]:
    """The parsed manifests."""
    return load_documents()


def gateway_container(docs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The gateway container of the Deployment."""
    containers = docs["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def test_every_file_is_valid_yaml_with_api_version_kind_and_name() -> None:
    """Each manifest parses and names its apiVersion, kind and (but kustomization) a name."""
    paths = sorted(K8S_DIR.glob("*.yaml"))
    assert paths, "no manifests found"
    for path in paths:
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            assert document["apiVersion"] and document["kind"], path.name
            if document["kind"] != "Kustomization":
                assert document["metadata"]["name"], path.name


def test_the_expected_kinds_are_there(docs: dict[str, dict[str, Any]]) -> None:
    """ConfigMap, PVC, Deployment, Service and a Kustomization, nothing else."""
    expected = {"ConfigMap", "PersistentVolumeClaim", "Deployment", "Service", "Kustomization"}
    assert set(docs) == expected


def test_kustomization_lists_every_other_manifest(docs: dict[str, dict[str, Any]]) -> None:
    """The kustomization names each other file once, and each exists."""
    resources = docs["Kustomization"]["resources"]
    others = {p.name for p in K8S_DIR.glob("*.yaml") if p.name != "kustomization.yaml"}
    assert sorted(resources) == sorted(others)


def test_container_port_and_service_port(docs: dict[str, dict[str, Any]]) -> None:
    """The container listens on 8000 (named http) and the Service targets that port."""
    container = gateway_container(docs)
    assert container["ports"] == [
        {"name": "http", "containerPort": GATEWAY_PORT, "protocol": "TCP"}
    ]
    (service_port,) = docs["Service"]["spec"]["ports"]
    assert service_port["port"] == GATEWAY_PORT
    assert service_port["targetPort"] == "http"
    config = docs["ConfigMap"]["data"]
    assert config["GATEWAY_PORT"] == str(GATEWAY_PORT)
    assert config["GATEWAY_HOST"] == "0.0.0.0"


def test_probes_use_health_endpoint(docs: dict[str, dict[str, Any]]) -> None:
    """Readiness and startup read /health on the http port; liveness checks the socket."""
    container = gateway_container(docs)
    for probe in ("readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}, probe
    assert container["livenessProbe"]["tcpSocket"] == {"port": "http"}


def test_service_selects_the_pods(docs: dict[str, dict[str, Any]]) -> None:
    """The Service selector and the Deployment selector match the pod labels."""
    template_labels = docs["Deployment"]["spec"]["template"]["metadata"]["labels"]
    for selector in (
        docs["Service"]["spec"]["selector"],
        docs["Deployment"]["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= template_labels.items()


def test_runs_as_the_image_user_without_privileges(docs: dict[str, dict[str, Any]]) -> None:
    """uid/gid 1000 as in the image, non-root, no privilege escalation, read-only root."""
    pod = docs["Deployment"]["spec"]["template"]["spec"]["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert (pod["runAsUser"], pod["runAsGroup"], pod["fsGroup"]) == (1000, 1000, 1000)
    container = gateway_container(docs)["securityContext"]
    assert container["allowPrivilegeEscalation"] is False
    assert container["readOnlyRootFilesystem"] is True
    assert container["capabilities"]["drop"] == ["ALL"]


def test_volumes_and_config_are_wired(docs: dict[str, dict[str, Any]]) -> None:
    """/data comes from the PVC, the key file lies on it, env comes from the ConfigMap."""
    spec = docs["Deployment"]["spec"]["template"]["spec"]
    container = gateway_container(docs)
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    data_volume = volumes[mounts["/data"]]
    claim = data_volume["persistentVolumeClaim"]["claimName"]
    assert claim == docs["PersistentVolumeClaim"]["metadata"]["name"]
    assert "/logs" in mounts
    assert docs["ConfigMap"]["data"]["GATEWAY_KEY_FILE"].startswith("/data/")
    (env_from,) = container["envFrom"]
    assert env_from["configMapRef"]["name"] == docs["ConfigMap"]["metadata"]["name"]


def test_memory_backend_means_one_replica(docs: dict[str, dict[str, Any]]) -> None:
    """With STORAGE_TYPE=memory or sqlite the Deployment runs exactly one replica, recreated."""
    deployment = docs["Deployment"]["spec"]
    if docs["ConfigMap"]["data"]["STORAGE_TYPE"] in ("memory", "sqlite"):
        assert deployment["replicas"] == 1
    assert deployment["strategy"]["type"] == "Recreate"


def test_configmap_sets_only_variables_the_gateway_reads(docs: dict[str, dict[str, Any]]) -> None:
    """Every ConfigMap key is a gateway setting (no ignored variables)."""
    settings = pytest.importorskip("aiconexus_gateway.settings")
    known = {name.upper() for name in settings.Settings.__dataclass_fields__}
    assert set(docs["ConfigMap"]["data"]) <= known
