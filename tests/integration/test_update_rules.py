"""Kubernetes' update rules for metadata and its size limits, on the embedded server."""

from __future__ import annotations

from typing import Any

import pytest

from .kube import Kube

CM = "/api/v1/namespaces/default/configmaps"
JSON_PATCH = "application/json-patch+json"
MERGE = "application/merge-patch+json"


async def _cm(kube: Kube, name: str = "c") -> dict[str, Any]:
    r = await kube.post(CM, {"metadata": {"name": name}, "data": {"a": "1"}})
    assert r.status == 201, r
    return r.json  # type: ignore[no-any-return]


IMMUTABLE_PATCHES = [
    ("merge name", MERGE, {"metadata": {"name": "other"}}, "metadata.name"),
    ("json-patch name", JSON_PATCH, [{"op": "replace", "path": "/metadata/name", "value": "other"}], "metadata.name"),
    ("merge namespace", MERGE, {"metadata": {"namespace": "kube-system"}}, "metadata.namespace"),
    ("creationTimestamp", MERGE, {"metadata": {"creationTimestamp": "2001-01-01T00:00:00Z"}},
     "metadata.creationTimestamp"),
    ("deletionTimestamp", MERGE, {"metadata": {"deletionTimestamp": "2001-01-01T00:00:00Z"}},
     "metadata.deletionTimestamp"),
    ("generation", MERGE, {"metadata": {"generation": 7}}, "metadata.generation"),
]


@pytest.mark.parametrize(("case", "ctype", "patch", "field"), IMMUTABLE_PATCHES, ids=[c[0] for c in IMMUTABLE_PATCHES])
async def test_patching_immutable_metadata_is_422(kube: Kube, case: str, ctype: str, patch: Any, field: str) -> None:
    before = await _cm(kube)
    r = await kube.patch(f"{CM}/c", patch, content_type=ctype)
    assert r.status == 422, r
    assert r.json["reason"] == "Invalid"
    assert [c["field"] for c in r.json["details"]["causes"]] == [field]
    assert "field is immutable" in r.json["details"]["causes"][0]["message"]
    after = (await kube.get(f"{CM}/c")).json
    assert after["metadata"] == before["metadata"]
    names = [o["metadata"]["name"] for o in (await kube.get(CM)).json["items"]]
    assert names == ["c"]
    assert (await kube.get(f"{CM}/other")).status == 404


async def test_merge_patch_of_a_node_name_is_refused(kube: Kube) -> None:
    assert (await kube.post("/api/v1/nodes", {"metadata": {"name": "n1"}})).status == 201
    r = await kube.patch("/api/v1/nodes/n1", {"metadata": {"name": "n2"}})
    assert r.status == 422 and r.json["details"]["causes"][0]["field"] == "metadata.name", r
    names = [o["metadata"]["name"] for o in (await kube.get("/api/v1/nodes")).json["items"]]
    assert names == ["n1"]


@pytest.mark.parametrize("verb", ["PUT", "PATCH"])
async def test_a_different_uid_in_the_body_is_a_409_precondition(kube: Kube, verb: str) -> None:
    cm = await _cm(kube)
    uid = cm["metadata"]["uid"]
    if verb == "PUT":
        cm["metadata"]["uid"] = "0000-other"
        r = await kube.put(f"{CM}/c", cm)
    else:
        r = await kube.patch(f"{CM}/c", {"metadata": {"uid": "0000-other"}})
    assert r.status == 409 and r.json["reason"] == "Conflict", r
    assert f"UID in precondition: 0000-other, UID in object meta: {uid}" in r.json["message"]
    # The same uid, or none, is fine.
    r = await kube.patch(f"{CM}/c", {"metadata": {"uid": uid}, "data": {"a": "2"}})
    assert r.status == 200, r


async def test_omitted_system_fields_keep_their_values(kube: Kube) -> None:
    cm = await _cm(kube)
    body = {"metadata": {"name": "c", "resourceVersion": cm["metadata"]["resourceVersion"]}, "data": {"a": "9"}}
    r = await kube.put(f"{CM}/c", body)
    assert r.status == 200, r
    for k in ("uid", "creationTimestamp"):
        assert r.json["metadata"][k] == cm["metadata"][k]


async def test_configmap_data_over_1_mib_is_422(kube: Kube) -> None:
    r = await kube.post(CM, {"metadata": {"name": "big"}, "data": {"a": "x" * (2 * 1024 * 1024)}})
    assert r.status == 422, r
    cause = r.json["details"]["causes"][0]
    assert cause["field"] == "data" and "may not be more than 1048576 bytes" in cause["message"]
    r = await kube.post(CM, {"metadata": {"name": "fits"}, "data": {"a": "x" * (1024 * 1024 - 10)}})
    assert r.status == 201, r
    r = await kube.patch(f"{CM}/fits", {"data": {"b": "x" * 100}})
    assert r.status == 422, r
    assert (await kube.get(f"{CM}/big")).status == 404


async def test_secret_data_over_1_mib_is_422(kube: Kube) -> None:
    r = await kube.post("/api/v1/namespaces/default/secrets",
                        {"metadata": {"name": "s"}, "stringData": {"a": "x" * (1024 * 1024 + 1)}})
    assert r.status == 422, r


async def test_a_stored_object_over_1_5_mib_is_413(kube: Kube) -> None:
    fields = {f"f:k{i}": {} for i in range(40_000)}  # managedFields are free-form: ~0.6 MiB
    body = {"metadata": {"name": "huge", "managedFields": [
        {"manager": "m", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": fields}]},
        "data": {"a": "x" * (1024 * 1024 - 100)}}
    r = await kube.post(CM, body)
    assert r.status == 413 and r.json["reason"] == "RequestEntityTooLarge", r
    assert "1572864" in r.json["message"]
    assert (await kube.get(f"{CM}/huge")).status == 404
