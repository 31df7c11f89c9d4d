"""deploy/k8s: both overlays render with kustomize and every manifest is valid against the
Kubernetes API's schemas or its operator's CRD; what the manifests promise (probes, non-root,
read-only root, migrations with their own role, one topic per name the code builds, ACLs
that let each service write only its own topics, autoscaling capped at the partitions, no
inline secret) is read from the rendered output. A broken overlay fails validation."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy.k8s.validate import K8S, OVERLAYS, render, validate
from services.coordination.app import SOURCES
from shared.kafka.acls import service_acls
from shared.services import SERVICES
from shared.settings import settings_for

# Who consumes what, as the code does it: coordination reads the clinical topics and its
# own; pharmacy and therapy keep a patient directory of assessment's; assessment reads none.
CONSUMES = {"assessment": [], "pharmacy": ["assessment"], "therapy": ["assessment"],
            "coordination": [*SOURCES, "coordination"]}


def topic(service: str, kind: str = "events") -> str:
    return settings_for(service)(topic_namespace="").topic(service, kind)


@pytest.fixture(scope="module", params=OVERLAYS)
def docs(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(request.param)


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def containers(deployment: dict[str, Any]) -> Iterator[dict[str, Any]]:
    pod = deployment["spec"]["template"]["spec"]
    yield from pod.get("initContainers", [])
    yield from pod["containers"]


def test_every_manifest_is_valid(docs: list[dict[str, Any]]) -> None:
    problems = [p for doc in docs for p in validate(doc)]
    assert not problems, "\n".join(problems)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser", "Cluster", "ScheduledBackup",
            "ScaledObject", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "Ingress"} <= kinds


def test_a_broken_overlay_fails_validation(tmp_path: Path) -> None:
    """Typos and wrong types in core and custom kinds, and a kind nobody has a schema for."""
    shutil.copytree(K8S / "base", tmp_path / "base")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "kustomization.yaml").write_text(textwrap.dedent("""\
        resources: [../base, extra.yaml]
        patches:
          - target: {kind: Deployment, name: pharmacy}
            patch: |-
              - {op: add, path: /spec/template/spec/containers/0/readinessProbe/httpGet/paht, value: /ready}
          - target: {kind: KafkaTopic, name: pharmacy-events-v1}
            patch: |-
              - {op: replace, path: /spec/partitions, value: twelve}
          - target: {kind: Cluster, name: therapy-db}
            patch: |-
              - {op: add, path: /spec/instance, value: 3}
          - target: {kind: ScaledObject, name: coordination}
            patch: |-
              - {op: replace, path: /spec/maxReplicaCount, value: "12"}
        """))
    (tmp_path / "broken" / "extra.yaml").write_text(textwrap.dedent("""\
        apiVersion: example.org/v1
        kind: Unheard
        metadata: {name: x}
        """))
    problems = [p for doc in render(tmp_path / "broken") for p in validate(doc)]
    text = "\n".join(problems)
    assert "Deployment pharmacy" in text and "paht" in text
    assert "KafkaTopic pharmacy-events-v1: spec/partitions" in text
    assert "Cluster therapy-db" in text and "instance" in text
    assert "ScaledObject coordination: spec/maxReplicaCount" in text
    assert "Unheard x: no schema" in text
    assert len(problems) == 5, text


def test_services_run_unprivileged_with_probes_limits_and_migrations(docs: list[dict[str, Any]]) -> None:
    deployments = of_kind(docs, "Deployment")
    assert set(deployments) == set(SERVICES)
    budgets = of_kind(docs, "PodDisruptionBudget")
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001  # the image's user (deploy/docker)
        assert pod["automountServiceAccountToken"] is False
        tmp = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        for container in containers(deployment):
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
            assert {"cpu", "memory"} <= set(container["resources"]["requests"])
            assert {"cpu", "memory"} <= set(container["resources"]["limits"])
            assert any(m["mountPath"] == "/tmp" and m["name"] in tmp for m in container["volumeMounts"])
        main = pod["containers"][0]
        assert main["readinessProbe"]["httpGet"]["path"] == "/ready"
        assert main["livenessProbe"]["httpGet"]["path"] == "/health"
        assert {"name": "SERVICE", "value": name} in main["env"]
        migrate = pod["initContainers"][0]
        assert migrate["command"] == ["carecoord", "db", "upgrade", name, "--grant-to", "$(CARECOORD_RUNTIME_ROLE)"]
        assert any(e["name"] == "CARECOORD_RUNTIME_ROLE" and e["valueFrom"]["secretKeyRef"]["name"] == f"{name}-db-app"
                   for e in migrate["env"] if "valueFrom" in e)
        assert secret_refs(migrate) == {f"{name}-db-migrator", f"{name}-db-app"}  # the app role's name only
        assert f"{name}-db-app" in secret_refs(main) and f"{name}-db-migrator" not in secret_refs(main)
        url = env_value(main, f"CARECOORD_{name.upper()}_DATABASE_URL")
        assert url.startswith(f"postgresql://{name}-db-rw:5432/carecoord_{name}?") and "@" not in url
        assert name in budgets


def env_value(container: dict[str, Any], name: str) -> str:
    return next(str(e["value"]) for e in container["env"] if e["name"] == name)


def secret_refs(container: dict[str, Any]) -> set[str]:
    return {e["valueFrom"]["secretKeyRef"]["name"] for e in container.get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})}


def test_no_secret_is_inlined(docs: list[dict[str, Any]]) -> None:
    assert not of_kind(docs, "Secret")
    for deployment in of_kind(docs, "Deployment").values():
        for container in containers(deployment):
            for env in container["env"]:
                if any(word in env["name"] for word in ("PASSWORD", "SECRET", "_KEY")):
                    assert "valueFrom" in env, f"{env['name']} given inline"
    for config in of_kind(docs, "ConfigMap").values():
        assert not [k for k in config["data"] if any(w in k for w in ("PASSWORD", "SECRET", "AUDIT_KEY"))]


def test_a_topic_for_every_name_the_code_builds(docs: list[dict[str, Any]]) -> None:
    topics = {t["spec"]["topicName"]: t["spec"] for t in of_kind(docs, "KafkaTopic").values()}
    events = {topic(s) for s in SERVICES} | {topic("coordination", "flags")}
    dead_letters = {f"{topic(t)}.dlq" for consumed in CONSUMES.values() for t in consumed}
    assert set(topics) == events | dead_letters
    for spec in topics.values():
        assert spec["replicas"] == 3 and spec["config"]["min.insync.replicas"] == 2
        assert spec["config"]["retention.ms"] == -1 and spec["config"]["retention.bytes"] == -1
    # One partition count for every event topic: a patient's key maps to the same partition number.
    assert len({topics[t]["partitions"] for t in events}) == 1


def test_kafka_is_kraft_with_three_brokers_tls_and_scram(docs: list[dict[str, Any]]) -> None:
    kafka = of_kind(docs, "Kafka")["carecoord"]["spec"]["kafka"]
    assert kafka["config"]["default.replication.factor"] == 3 and kafka["config"]["min.insync.replicas"] == 2
    assert kafka["config"]["auto.create.topics.enable"] is False
    assert {(ls["tls"], ls["authentication"]["type"]) for ls in kafka["listeners"]} == {
        (True, "tls"), (True, "scram-sha-512")}
    pools = of_kind(docs, "KafkaNodePool")
    assert sum(p["spec"]["replicas"] for p in pools.values() if "broker" in p["spec"]["roles"]) == 3
    assert sum(p["spec"]["replicas"] for p in pools.values() if "controller" in p["spec"]["roles"]) == 3


def acl_topics(user: dict[str, Any], operation: str) -> set[str]:
    return {a["resource"]["name"] for a in user["spec"]["authorization"]["acls"]
            if a["resource"]["type"] == "topic" and operation in a["operations"]}


def test_each_service_writes_only_its_own_topics_and_reads_what_it_consumes(docs: list[dict[str, Any]]) -> None:
    users = of_kind(docs, "KafkaUser")
    for service, consumed in CONSUMES.items():
        user = users[f"carecoord-{service}"]
        assert user["spec"]["authentication"]["type"] == "scram-sha-512"
        own = {topic(service)} | ({topic(service, "flags")} if service == "coordination" else set())
        assert acl_topics(user, "Write") == own | {f"{topic(t)}.dlq" for t in consumed}
        assert acl_topics(user, "Read") == {topic(t) for t in consumed}
        # the same bindings as the local broker's (shared.kafka.acls, proven by the ACL test)
        local = service_acls(service)
        assert acl_topics(user, "Write") == {a.name for a in local if a.resource == "topic" and a.operation == "write"}
        assert acl_topics(user, "Read") == {a.name for a in local if a.resource == "topic" and a.operation == "read"}
        assert all(a["resource"]["patternType"] == "literal" for a in user["spec"]["authorization"]["acls"]
                   if a["resource"]["type"] == "topic")
        for forbidden in ("Create", "Delete", "Alter", "AlterConfigs", "All"):
            assert not acl_topics(user, forbidden)
    # Nobody else writes a service's events but the operators' dead-letter replay.
    for service in SERVICES:
        writers = {u["metadata"]["name"] for u in users.values() if topic(service) in acl_topics(u, "Write")}
        assert writers == {f"carecoord-{service}", "carecoord-operator"}


def test_autoscaling_never_exceeds_the_partitions(docs: list[dict[str, Any]]) -> None:
    partitions = min(t["spec"]["partitions"] for t in of_kind(docs, "KafkaTopic").values()
                     if not t["spec"]["topicName"].endswith(".dlq"))
    hpas = of_kind(docs, "HorizontalPodAutoscaler")
    for service in ("assessment", "pharmacy", "therapy"):
        metric = hpas[service]["spec"]["metrics"][0]
        assert metric["resource"]["name"] == "cpu"
        assert hpas[service]["spec"]["maxReplicas"] <= partitions
    scaled = of_kind(docs, "ScaledObject")["coordination"]["spec"]
    assert scaled["maxReplicaCount"] <= partitions
    lag = next(t for t in scaled["triggers"] if t["type"] == "kafka")
    assert lag["metadata"]["consumerGroup"] == "coordination" and lag["metadata"]["allowIdleConsumers"] == "false"


def test_each_service_reaches_only_kafka_its_database_and_the_identity_provider(docs: list[dict[str, Any]]) -> None:
    policies = of_kind(docs, "NetworkPolicy")
    deny = policies["carecoord-default-deny"]["spec"]
    assert deny["policyTypes"] == ["Ingress", "Egress"] and "egress" not in deny and "ingress" not in deny
    for service in SERVICES:
        peers = [peer for rule in policies[service]["spec"]["egress"] for peer in rule["to"]]
        pods = [p["podSelector"]["matchLabels"] for p in peers if "podSelector" in p and "namespaceSelector" not in p]
        databases = {labels["cnpg.io/cluster"] for labels in pods if "cnpg.io/cluster" in labels}
        assert databases == {f"{service}-db"}
        assert {"strimzi.io/cluster": "carecoord", "strimzi.io/broker-role": "true"} in pods
        apis = {labels["app.kubernetes.io/name"] for labels in pods if "app.kubernetes.io/name" in labels}
        assert apis == (set(SERVICES) - {"coordination"} if service == "coordination" else set())
        namespaces = {p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in peers
                      if "namespaceSelector" in p}
        assert "identity" in namespaces and namespaces <= {"identity", "kube-system", "monitoring"}
        db = policies[f"{service}-db"]["spec"]["ingress"][0]["from"]
        assert {"app.kubernetes.io/name": service, "app.kubernetes.io/component": "api"} in [
            p["podSelector"]["matchLabels"] for p in db]


def test_databases_are_backed_up_and_the_ingress_serves_apis_and_pages(docs: list[dict[str, Any]]) -> None:
    clusters = of_kind(docs, "Cluster")
    assert set(clusters) == {f"{s}-db" for s in SERVICES}
    scheduled = {b["spec"]["cluster"]["name"] for b in of_kind(docs, "ScheduledBackup").values()}
    assert scheduled == set(clusters)
    for cluster in clusters.values():
        store = cluster["spec"]["backup"]["barmanObjectStore"]
        assert store["destinationPath"] and "secretAccessKey" in store["s3Credentials"]
        assert cluster["spec"]["enableSuperuserAccess"] is False
    paths = {(r["host"].split(".")[0], p["path"]) for r in of_kind(docs, "Ingress")["carecoord"]["spec"]["rules"]
             for p in r["http"]["paths"]}
    assert {(s, "/v1") for s in SERVICES} | {("coordination", "/ui")} <= paths
