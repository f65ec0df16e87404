"""Every rendered manifest is valid against the Kubernetes API schemas, offline."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest
import yaml

from atelier.platform.cli import PROJECTIONS
from tests.deploy.k8s import K8S, KUBERNETES_VERSION, find

#: Custom resources: kubernetes-validate ships only the built-in API's schemas. KEDA's
#: ScaledObject is checked for what Atelier relies on in test_manifests instead.
NO_SCHEMA = {("keda.sh/v1alpha1", "ScaledObject")}


def validate(doc: dict) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_rendered_manifests_match_the_kubernetes_schemas(overlay):
    _, docs = overlay
    skipped = set()
    for doc in docs:
        try:
            validate(doc)
        except kubernetes_validate.SchemaNotFoundError:
            skipped.add((doc["apiVersion"], doc["kind"]))
        except kubernetes_validate.ValidationError as error:
            where = ".".join(str(part) for part in error.path)
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {where}: {error.message}")
    assert skipped == NO_SCHEMA


def test_strict_validation_refuses_an_unknown_field(overlay):
    _, docs = overlay
    broken = copy.deepcopy(find(docs, "Deployment", "gateway"))
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken)


@pytest.mark.parametrize("service", sorted(PROJECTIONS))
def test_the_rebuild_job_template_is_valid(service):
    text = (K8S / "jobs" / "rebuild.yaml").read_text().replace("SERVICE_NAME", service)
    job = yaml.safe_load(text)
    validate(job)
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "atelier",
        "rebuild",
        service,
    ]
