"""Request bodies in a media type the route does not take: 415 UnsupportedMediaType, as kube-apiserver answers.

kube negotiates the body's serializer from Content-Type before it decodes anything: create, update, DELETE
with a body and the POST subresources take JSON, YAML or protobuf (no Content-Type means JSON); PATCH takes
only the patch types (strategic merge for built-in kinds only). Anything else is a 415 `Status` whose message
lists what is accepted, and nothing is stored or changed.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubenode.apiserver.server import RunningServer

from .crds import WIDGET_CRD
from .kube import Kube, Response

CM = "/api/v1/namespaces/default/configmaps"
PODS = "/api/v1/namespaces/default/pods"
BODY_TYPES = "application/json, application/yaml, application/vnd.kubernetes.protobuf"
BUILTIN_PATCH_TYPES = ("application/json-patch+json, application/merge-patch+json, "
                       "application/apply-patch+yaml, application/strategic-merge-patch+json")
CR_PATCH_TYPES = "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
SCALE_CR_PATCH_TYPES = "application/json-patch+json, application/merge-patch+json"
WIDGETS = "/apis/example.com/v1/namespaces/default/widgets"


def _is_415(r: Response, accepted: str) -> None:
    assert r.status == 415, r
    assert r.json["kind"] == "Status" and r.json["reason"] == "UnsupportedMediaType" and r.json["code"] == 415
    assert r.json["message"] == ("the body of the request was in an unknown format - accepted media types "
                                 f"include: {accepted}"), r.json["message"]


async def _setup(kube: Kube) -> dict[str, Any]:
    """A ConfigMap, a Pod and a ServiceAccount to aim at; returns the ConfigMap as stored."""
    r = await kube.post(CM, {"metadata": {"name": "kept"}, "data": {"a": "1"}})
    assert r.status == 201, r
    pod = {"metadata": {"name": "kept"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    assert (await kube.post(PODS, pod)).status == 201
    sa = await kube.post("/api/v1/namespaces/default/serviceaccounts", {"metadata": {"name": "kept"}})
    assert sa.status == 201, sa
    return r.json  # type: ignore[no-any-return]


CM_BODY = json.dumps({"metadata": {"name": "new"}, "data": {"a": "1"}}).encode()
KEPT_BODY = json.dumps({"metadata": {"name": "kept"}, "data": {"a": "2"}}).encode()

# (case, method, path, content type, body, accepted) — every body is valid JSON: only the type is wrong.
WRONG_TYPES = [
    ("create text/plain", "POST", CM, "text/plain", CM_BODY, BODY_TYPES),
    ("create xml", "POST", CM, "application/xml", CM_BODY, BODY_TYPES),
    ("create octet-stream", "POST", CM, "application/octet-stream", CM_BODY, BODY_TYPES),
    ("create apply-patch type", "POST", CM, "application/apply-patch+yaml", CM_BODY, BODY_TYPES),
    ("create merge-patch type", "POST", CM, "application/merge-patch+json", CM_BODY, BODY_TYPES),
    ("create text/yaml", "POST", CM, "text/yaml", CM_BODY, BODY_TYPES),
    ("create malformed type", "POST", CM, "json", CM_BODY, BODY_TYPES),
    ("update", "PUT", f"{CM}/kept", "text/plain", KEPT_BODY, BODY_TYPES),
    ("update status", "PUT", f"{PODS}/kept/status", "text/plain",
     json.dumps({"metadata": {"name": "kept"}, "status": {"phase": "Failed"}}).encode(), BODY_TYPES),
    ("delete with body", "DELETE", f"{CM}/kept", "text/plain", b'{"gracePeriodSeconds":0}', BODY_TYPES),
    ("deletecollection with body", "DELETE", CM, "text/plain", b'{"gracePeriodSeconds":0}', BODY_TYPES),
    ("eviction", "POST", f"{PODS}/kept/eviction", "text/plain",
     b'{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"kept"}}', BODY_TYPES),
    ("token request", "POST", "/api/v1/namespaces/default/serviceaccounts/kept/token", "text/plain",
     b'{"spec":{}}', BODY_TYPES),
    ("access review", "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "text/plain",
     b'{"spec":{"resourceAttributes":{"verb":"get","resource":"pods"}}}', BODY_TYPES),
    ("patch text/plain", "PATCH", f"{CM}/kept", "text/plain", b'{"data":{"a":"2"}}', BUILTIN_PATCH_TYPES),
    ("patch application/json", "PATCH", f"{CM}/kept", "application/json", b'{"data":{"a":"2"}}',
     BUILTIN_PATCH_TYPES),
    ("patch status yaml", "PATCH", f"{PODS}/kept/status", "application/yaml", b'{"status":{"phase":"Failed"}}',
     BUILTIN_PATCH_TYPES),
]


@pytest.mark.parametrize(("case", "method", "path", "ctype", "body", "accepted"), WRONG_TYPES,
                         ids=[c[0] for c in WRONG_TYPES])
async def test_a_body_in_a_type_the_route_does_not_take_is_415_and_changes_nothing(
        kube: Kube, case: str, method: str, path: str, ctype: str, body: bytes, accepted: str) -> None:
    before = await _setup(kube)
    pod_before = (await kube.get(f"{PODS}/kept")).json
    r = await kube.request(method, path, raw=body, content_type=ctype)
    _is_415(r, accepted)
    assert (await kube.get(f"{CM}/new")).status == 404
    assert (await kube.get(f"{CM}/kept")).json == before
    assert (await kube.get(f"{PODS}/kept")).json == pod_before


async def test_custom_resources_take_no_strategic_merge_patch(kube: Kube) -> None:
    crd = copy.deepcopy(WIDGET_CRD)
    assert (await kube.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)).status == 201
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
              "spec": {"size": "small", "replicas": 1}}
    created = await kube.post(WIDGETS, widget)
    assert created.status == 201, created
    r = await kube.patch(f"{WIDGETS}/w", {"spec": {"replicas": 3}},
                         content_type="application/strategic-merge-patch+json")
    _is_415(r, CR_PATCH_TYPES)
    r = await kube.patch(f"{WIDGETS}/w/scale", {"spec": {"replicas": 3}},
                         content_type="application/strategic-merge-patch+json")
    _is_415(r, SCALE_CR_PATCH_TYPES)
    assert (await kube.get(f"{WIDGETS}/w")).json == created.json
    r = await kube.patch(f"{WIDGETS}/w/scale", {"spec": {"replicas": 3}})
    assert r.status == 200 and r.json["spec"]["replicas"] == 3, r


ACCEPTED_SPELLINGS = ["application/json", "application/json; charset=utf-8", "Application/JSON",
                      "application/yaml"]


@pytest.mark.parametrize("ctype", ACCEPTED_SPELLINGS)
async def test_accepted_types_with_parameters_or_capitals_create(kube: Kube, ctype: str) -> None:
    r = await kube.request("POST", CM, raw=CM_BODY, content_type=ctype)
    assert r.status == 201, r
    assert r.json["data"] == {"a": "1"}


async def test_no_content_type_is_json(kube: Kube, server: RunningServer) -> None:
    # kube takes the first type it serves; aiohttp would add application/octet-stream unless told not to.
    async with kube.session.post(kube.base + CM, data=CM_BODY, ssl=kube.ssl, headers=kube._headers(None),
                                 skip_auto_headers=["Content-Type"]) as resp:
        assert resp.status == 201, await resp.text()
    assert (await kube.get(f"{CM}/new")).json["data"] == {"a": "1"}


async def test_a_delete_without_body_ignores_the_content_type(kube: Kube) -> None:
    await _setup(kube)
    r = await kube.request("DELETE", f"{CM}/kept", headers={"Content-Type": "text/plain"})
    assert r.status == 200, r
    assert (await kube.get(f"{CM}/kept")).status == 404


_TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789+-.", min_size=1, max_size=12)
MEDIA_TYPES = st.one_of(
    st.tuples(_TOKEN, _TOKEN).map(lambda t: f"{t[0]}/{t[1]}"),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=30),
)


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ctype=MEDIA_TYPES)
async def test_any_other_media_type_is_415_and_stores_nothing(kube: Kube, ctype: str) -> None:
    base = ctype.split(";")[0].strip().lower()
    r = await kube.request("POST", CM, raw=CM_BODY, content_type=ctype)
    if base in ("application/json", "application/yaml"):
        assert r.status in (201, 409), r
        if r.status == 201:
            assert (await kube.delete(f"{CM}/new")).status == 200
    elif base == "application/vnd.kubernetes.protobuf":
        assert r.status == 400, r  # the type is served; a JSON body is not protobuf
    else:
        _is_415(r, BODY_TYPES)
    assert (await kube.get(f"{CM}/new")).status == 404


async def test_a_yaml_body_with_lone_surrogate_escapes_stores_the_replacement_character(kube: Kube) -> None:
    # JSON's decoder refuses "\ud800"; YAML's accepts it, and Go's YAML decoder stores U+FFFD: so do we,
    # rather than a string that storage, CEL and watch encoding cannot hold.
    body = (b'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: surrogates\n'
            b'data:\n  lone: "\\ud800x"\n  pair: "\\ud83d\\ude00"\n')
    r = await kube.request("POST", CM, raw=body, content_type="application/yaml")
    assert r.status == 201, r
    got = await kube.get(f"{CM}/surrogates")
    assert got.status == 200 and got.json["data"] == {"lone": "\ufffdx", "pair": "\U0001f600"}, got
