"""What the rendered overlays must say for Atelier to run and scale as designed."""

from __future__ import annotations

import importlib
import re
import subprocess
from urllib.parse import urlparse

import pytest
import yaml

from atelier.contracts import permissions
from atelier.contracts.streams import EVENTS
from atelier.platform.local import SERVICES as PLATFORM_SERVICES
from atelier.platform.provision import durable_consumers
from atelier.runtime.settings import RuntimeSettings
from atelier.stack.servers.nats import (
    kubernetes_authorization,
    nats_server_binary,
    password_variable,
)
from tests.deploy.k8s import (
    GPU_SERVICES,
    K8S,
    ROOT,
    SERVICES,
    env_of,
    env_sources,
    find,
    of_kind,
    pod_spec,
)

#: The keys each Secret must hold (created out of band, see docs/operations.md).
SECRET_KEYS = {
    "atelier-database": {"DATABASE_URL"},
    "atelier-s3": {"S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"},
    "atelier-jwt": {"JWT_SECRET", "JWT_SECRET_PREVIOUS"},
    "nats-users": set(permissions.IDENTITIES),
    "atelier-webhooks": {"WEBHOOK_SECRET_KEYS"},
}
#: Variables read by libraries rather than by Atelier's settings.
FOREIGN_PREFIXES = ("OTEL_", "HF_", "TQDM_")
#: In the shared ConfigMap for the provisioning Job's arguments.
JOB_ONLY = {"STREAM_REPLICAS"}
#: The NATS password of a workload: from the Secret nats-users, expanded into NATS_URL.
NATS_PASSWORD = "NATS_PASSWORD"


def settings_class(service: str) -> type[RuntimeSettings]:
    module = importlib.import_module(f"atelier.{service.replace('-', '_')}.config")
    (found,) = {
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, RuntimeSettings)
        and value.__module__ == module.__name__
    }
    return found


def variables_read(settings: type[RuntimeSettings]) -> dict[str, bool]:
    """Environment variable -> required, for every field of a settings class."""
    return {
        (field.validation_alias or name).upper(): field.is_required()
        for name, field in settings.model_fields.items()
    }


def container(docs: list[dict], service: str) -> dict:
    (only,) = pod_spec(find(docs, "Deployment", service))["containers"]
    return only


def expansion_only(spec: dict) -> set[str]:
    """Variables that exist to be expanded into a later one (`$(NAME)`) and come from a
    Secret key: the NATS password, which only NATS_URL carries to the service."""
    found = set()
    items = spec.get("env", [])
    for index, item in enumerate(items):
        later = " ".join(str(each.get("value", "")) for each in items[index + 1 :])
        if "secretKeyRef" in item.get("valueFrom", {}) and f"$({item['name']})" in later:
            found.add(item["name"])
    return found


def provided_variables(docs: list[dict], spec: dict) -> dict[str, object]:
    """Every variable the container gets: literal, from a field, ConfigMap or Secret."""
    provided = dict(env_of(spec))
    for kind, name in env_sources(spec):
        if kind == "configMapRef":
            provided |= find(docs, "ConfigMap", name)["data"]
        else:
            provided |= dict.fromkeys(SECRET_KEYS[name])
    return provided


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_is_deployed_with_probes_and_resource_limits(overlay, service):
    _, docs = overlay
    spec = container(docs, service)
    env = provided_variables(docs, spec)
    port_var = "HTTP_PORT" if "HTTP_PORT" in env else "HEALTH_PORT"
    host_var = port_var.replace("PORT", "HOST")
    assert env[host_var] == "0.0.0.0", "a probe cannot reach a server bound to loopback"
    (port,) = spec["ports"]
    assert str(port["containerPort"]) == env[port_var]
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        assert spec[probe]["httpGet"] == {"path": path, "port": port["name"]}
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= spec["resources"][bound].keys()
    assert env["OTEL_SERVICE_NAME"] == f"atelier-{service}"  # as atelier.runtime.tracing names it


@pytest.mark.parametrize("service", SERVICES)
def test_services_get_exactly_the_settings_they_read(overlay, service):
    _, docs = overlay
    spec = container(docs, service)
    provided = provided_variables(docs, spec)
    read = variables_read(settings_class(service))
    auxiliary = expansion_only(spec)
    assert auxiliary <= {NATS_PASSWORD}, f"{service}: only the NATS password is expanded"
    unknown = {
        name
        for name in provided
        if name not in read
        and name not in JOB_ONLY
        and name not in auxiliary
        and not name.startswith(FOREIGN_PREFIXES)
    }
    assert not unknown, f"{service} does not read {sorted(unknown)}"
    missing = {name for name, required in read.items() if required and name not in provided}
    assert not missing


def test_workloads_are_hardened(overlay):
    _, docs = overlay
    workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet", "Job", "DaemonSet")]
    for workload in workloads:
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True, workload["metadata"]["name"]
        for each in spec["containers"]:
            context = each["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, each["name"]
            assert context["allowPrivilegeEscalation"] is False, each["name"]
            assert context["capabilities"]["drop"] == ["ALL"], each["name"]
            assert {"cpu", "memory"} <= each["resources"]["limits"].keys(), each["name"]
            image = each["image"]
            assert ":" in image.rsplit("/", 1)[-1], f"{image} has no tag"
            assert not image.endswith(":latest")


def test_workloads_are_consistent_where_the_schemas_cannot_tell(overlay):
    _, docs = overlay
    workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]
    for workload in workloads:
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert workload["spec"]["selector"]["matchLabels"].items() <= labels.items()
        spec = pod_spec(workload)
        claims = {c["metadata"]["name"] for c in workload["spec"].get("volumeClaimTemplates", [])}
        volumes = {v["name"] for v in spec.get("volumes", [])} | claims
        for each in spec["containers"]:
            mounts = {m["name"] for m in each.get("volumeMounts", [])}
            assert mounts <= volumes, f"{workload['metadata']['name']}: {mounts - volumes}"


def test_the_gateway_trusts_the_tokens_of_each_overlays_identity_provider(overlay):
    """dev: HS256 secrets (atelier-jwt); prod: the provider's JWKS and issuer, the secrets
    optional beside them. Either way the gateway's settings validate."""
    name, docs = overlay
    spec = container(docs, "gateway")
    refs = [each["secretRef"] for each in spec["envFrom"] if "secretRef" in each]
    assert {"name": "atelier-jwt", "optional": True} in refs
    (config,) = [n for _, n in env_sources(spec) if n.startswith("atelier-identity")]
    identity = find(docs, "ConfigMap", config)["data"]
    settings = settings_class("gateway")
    environment = {k.lower(): v for k, v in identity.items()} | {"jwt_secret": None}
    if name == "prod":
        assert identity["JWT_JWKS_URL"].endswith("/.well-known/jwks.json")
        assert identity["JWT_ISSUER"]
        assert settings(**environment).jwt_jwks_url == identity["JWT_JWKS_URL"]
    else:
        assert "JWT_JWKS_URL" not in identity
        assert settings(**environment | {"jwt_secret": "from-atelier-jwt"}).hs256_secrets()


def test_no_secret_values_are_committed(overlay):
    _, docs = overlay
    assert not of_kind(docs, "Secret")


@pytest.mark.parametrize("service", ["gateway", "workspace", "library"])
def test_stateless_services_scale_on_cpu_and_keep_one_pod_through_disruptions(overlay, service):
    _, docs = overlay
    hpa = find(docs, "HorizontalPodAutoscaler", service)
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": service,
    }
    assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    assert "replicas" not in find(docs, "Deployment", service)["spec"], "the HPA owns it"
    budget = find(docs, "PodDisruptionBudget", service)
    assert budget["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": service}


@pytest.mark.parametrize("service", GPU_SERVICES)
def test_gpu_services_get_a_gpu_and_scale_to_zero_on_their_consumer_lag(overlay, service):
    _, docs = overlay
    deployment = find(docs, "Deployment", service)
    spec = pod_spec(deployment)
    resources = container(docs, service)["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"] == 1
    assert spec["nodeSelector"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec[
        "tolerations"
    ]
    assert "replicas" not in deployment["spec"], "KEDA owns it"

    scaled = find(docs, "ScaledObject", service)
    assert scaled["spec"]["scaleTargetRef"] == {"name": service}
    assert scaled["spec"]["minReplicaCount"] == 0
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "nats-jetstream"
    meta = trigger["metadata"]
    assert meta["stream"] == EVENTS.name
    model = service.removeprefix("gpu-")
    consumers = {config.durable_name: config for config in durable_consumers()}
    assert model in consumers[meta["consumer"]].filter_subject
    # KEDA asks <consumer leader>.<host>: the headless Service of the NATS StatefulSet.
    host, port = meta["natsServerMonitoringEndpoint"].split(":")
    service_name, service_namespace = host.split(".")[:2]
    assert find(docs, "StatefulSet", "nats")["spec"]["serviceName"] == service_name
    headless = find(docs, "Service", service_name)
    assert headless["metadata"]["namespace"] == service_namespace
    assert deployment["metadata"]["namespace"] == service_namespace
    assert int(port) in {p["port"] for p in headless["spec"]["ports"]}


def test_nats_is_a_three_node_jetstream_cluster_and_streams_replicate_in_prod(overlay):
    name, docs = overlay
    nats = find(docs, "StatefulSet", "nats")
    assert nats["spec"]["replicas"] == 3
    conf = find(docs, "ConfigMap", "nats-config")["data"]["nats.conf"]
    routes = [line.strip() for line in conf.splitlines() if line.strip().startswith("nats://")]
    assert len(routes) == nats["spec"]["replicas"]
    assert "jetstream" in conf
    (config,) = [
        d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"].startswith("atelier-config")
    ]
    assert config["data"]["STREAM_REPLICAS"] == {"dev": "1", "prod": "3"}[name]
    job = find(docs, "Job", "atelier-provision")
    (provision,) = pod_spec(job)["containers"]
    assert provision["args"] == ["provision", "--stream-replicas", "$(STREAM_REPLICAS)"]
    assert ("configMapRef", config["metadata"]["name"]) in set(env_sources(provision))


def test_only_the_gateway_is_reachable_from_outside(overlay):
    _, docs = overlay
    policies = of_kind(docs, "NetworkPolicy")
    assert any(
        p["spec"]["podSelector"] == {}
        and p["spec"]["policyTypes"] == ["Ingress"]
        and not p["spec"].get("ingress")
        for p in policies
    ), "no default deny"
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            if "from" not in rule:  # from anywhere
                assert policy["spec"]["podSelector"] == {
                    "matchLabels": {"app.kubernetes.io/name": "gateway"}
                }


def test_services_send_traces_to_the_collector(overlay):
    _, docs = overlay
    for service in SERVICES:
        endpoint = urlparse(
            provided_variables(docs, container(docs, service))["OTEL_EXPORTER_OTLP_ENDPOINT"]
        )
        collector = find(docs, "Service", endpoint.hostname)
        assert endpoint.port in {p["port"] for p in collector["spec"]["ports"]}


def test_operations_guide_creates_every_secret_key():
    guide = (ROOT / "docs" / "operations.md").read_text()
    for secret, keys in SECRET_KEYS.items():
        assert secret in guide
        for key in keys:
            assert f"{key}=" in guide, key


def nats_config_files(docs: list[dict]) -> dict[str, str]:
    """File name -> text of everything the NATS nodes find in /etc/nats."""
    nats = find(docs, "StatefulSet", "nats")
    (server,) = pod_spec(nats)["containers"]
    (mount,) = [m for m in server["volumeMounts"] if m["mountPath"] == "/etc/nats"]
    (volume,) = [v for v in pod_spec(nats)["volumes"] if v["name"] == mount["name"]]
    files: dict[str, str] = {}
    for source in volume["projected"]["sources"]:
        data = find(docs, "ConfigMap", source["configMap"]["name"])["data"]
        assert not files.keys() & data.keys(), "two ConfigMaps write the same file"
        files |= data
    return files


def secret_keys(spec: dict) -> dict[str, tuple[str, str]]:
    """Variable -> (Secret, key) for every variable the container takes from a Secret key."""
    return {
        item["name"]: (ref["name"], ref["key"])
        for item in spec.get("env", [])
        if (ref := item.get("valueFrom", {}).get("secretKeyRef"))
    }


def test_the_nats_configuration_is_one_nats_server_accepts(overlay, tmp_path):
    _, docs = overlay
    for name, text in nats_config_files(docs).items():
        local = text.replace("/data", str(tmp_path / "data")).replace("/tmp/", f"{tmp_path}/")
        (tmp_path / name).write_text(local)
    nats = find(docs, "StatefulSet", "nats")
    (server,) = pod_spec(nats)["containers"]
    assert server["image"].split(":")[1].startswith("2.15"), "the version the dev stack runs"
    # What the pod's environment holds: its name, and a stand-in for every Secret key.
    environment = {"POD_NAME": f"{nats['metadata']['name']}-0"}
    environment |= {name: f"test-{key}-0f3a" for name, (_, key) in secret_keys(server).items()}
    checked = subprocess.run(
        [str(nats_server_binary()), "-t", "-c", str(tmp_path / "nats.conf")],
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


def test_nats_users_and_rights_are_the_contracts(overlay):
    """The committed users are rendered from atelier.contracts.permissions, as the dev
    stack's are, and each password comes from the Secret nats-users, never a literal."""
    _, docs = overlay
    files = nats_config_files(docs)
    assert files["auth.conf"] == kubernetes_authorization(), (
        "deploy/k8s/base/nats-auth.conf differs from atelier.contracts.permissions: "
        "write it again (docs/operations.md, NATS identities)"
    )
    assert "include ./auth.conf" in {line.strip() for line in files["nats.conf"].splitlines()}
    referenced = set(re.findall(r"\$(NATS_PASSWORD_\w+)", files["auth.conf"]))
    (server,) = pod_spec(find(docs, "StatefulSet", "nats"))["containers"]
    assert secret_keys(server) == {
        password_variable(identity): ("nats-users", identity) for identity in permissions.IDENTITIES
    }
    assert referenced == set(secret_keys(server))


def nats_identity(spec: dict) -> str:
    """The identity a container connects to NATS as, checking how NATS_URL is built: a
    user, the password from nats-users/<user> declared before it, the `nats` Service."""
    names = [item["name"] for item in spec["env"]]
    assert names.index(NATS_PASSWORD) < names.index("NATS_URL"), "expanded only if before"
    url = urlparse(env_of(spec)["NATS_URL"])
    assert (url.scheme, url.hostname, url.port) == ("nats", "nats", 4222)
    assert url.password == f"$({NATS_PASSWORD})"
    assert secret_keys(spec)[NATS_PASSWORD] == ("nats-users", url.username)
    return url.username


def test_every_workload_connects_to_nats_as_its_own_identity(overlay):
    _, docs = overlay
    client = {p["port"] for p in find(docs, "Service", "nats")["spec"]["ports"]}
    assert client == {4222}
    assert sorted(spec.name for spec in PLATFORM_SERVICES) == SERVICES
    for spec in PLATFORM_SERVICES:  # the identities the dev stack gives the services
        assert nats_identity(container(docs, spec.name)) == spec.identity, spec.name
    (provision,) = pod_spec(find(docs, "Job", "atelier-provision"))["containers"]
    assert nats_identity(provision) == permissions.ADMIN, "it creates the streams"
    for config in of_kind(docs, "ConfigMap"):
        assert "NATS_URL" not in config.get("data", {}), "a URL without an identity"


def test_the_rebuild_job_connects_to_nats_as_admin():
    job = yaml.safe_load((K8S / "jobs" / "rebuild.yaml").read_text())
    (rebuild,) = pod_spec(job)["containers"]
    assert nats_identity(rebuild) == permissions.ADMIN, "it reads the whole log"
