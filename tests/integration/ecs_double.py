"""A protocol-level test double of Alibaba Cloud ECS (API version 2014-05-26), served with aiohttp on loopback.

No ECS can be reached from the test machines, so the provider's tests point the real
`alibabacloud_ecs20140526` SDK at this server. It speaks the wire protocol the SDK speaks: RPC-style actions
named by the `x-acs-action` header, parameters in the query string (`Tag.N.Key`, `InstanceId.N`), requests
signed with ACS3-HMAC-SHA256 (verified here against the test's secret, as ECS does), JSON answers in the
documented response shapes (`InstanceIdSets.InstanceIdSet`, `Instances.Instance[]` with `Tags.Tag[]`,
`VpcAttributes.PrivateIpAddress.IpAddress`) and errors as ECS sends them (HTTP status plus `Code`,
`Message`, `RequestId`). It keeps instances in memory: RunInstances is idempotent by ClientToken, a new
instance is `Pending` until the next DescribeInstances, DeleteInstances releases at once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aiohttp import web

Obj = dict[str, Any]

ZONES = {"cn-hangzhou": ["cn-hangzhou-j", "cn-hangzhou-k"], "cn-beijing": ["cn-beijing-h"]}


def _enc(s: str) -> str:
    return quote(s, safe="-_.~")


def acs3_signature(secret: str, method: str, path: str, query: dict[str, str], headers: dict[str, str],
                   signed: list[str], payload_hash: str) -> str:
    """The ACS3-HMAC-SHA256 signature of a request (Alibaba Cloud's V3 signing)."""
    canonical_query = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted(query.items()))
    canonical_headers = "".join(f"{h}:{headers.get(h, '').strip()}\n" for h in signed)
    canonical = "\n".join([method, path or "/", canonical_query, canonical_headers, ";".join(signed), payload_hash])
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    return hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


class EcsError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class FakeEcs:
    """State of the double: access keys it accepts, instances, and every request it saw (action, params)."""

    keys: dict[str, str] = field(default_factory=lambda: {"test-ak": "test-secret"})
    instances: dict[str, Obj] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    #: Set to make the next N calls of an action answer HTTP 503 ServiceUnavailable (retry behaviour).
    unavailable: dict[str, int] = field(default_factory=dict)

    def actions(self, name: str) -> list[dict[str, str]]:
        return [p for a, p in self.requests if a == name]

    async def handle(self, request: web.Request) -> web.Response:
        request_id = str(uuid.uuid4()).upper()
        action = request.headers.get("x-acs-action", "")
        params = dict(request.query)
        try:
            self._authenticate(request, params)
            if request.headers.get("x-acs-version") != "2014-05-26":
                raise EcsError(400, "InvalidVersion", "Specified parameter Version is not valid.")
            self.requests.append((action, params))
            if self.unavailable.get(action):
                self.unavailable[action] -= 1
                raise EcsError(503, "ServiceUnavailable", "The request has failed due to a temporary failure.")
            handler = {"RunInstances": self._run, "DescribeInstances": self._describe,
                       "DeleteInstances": self._delete}.get(action)
            if handler is None:
                raise EcsError(404, "InvalidAction.NotFound", f"Specified api {action} is not found.")
            body = handler(params)
        except EcsError as exc:
            return web.json_response({"RequestId": request_id, "HostId": request.host, "Code": exc.code,
                                      "Message": exc.message, "Recommend": ""}, status=exc.status)
        return web.json_response({"RequestId": request_id, **body})

    def _authenticate(self, request: web.Request, params: dict[str, str]) -> None:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("ACS3-HMAC-SHA256 "):
            raise EcsError(400, "MissingParameter", "The Authorization header is missing or not ACS3.")
        fields = dict(part.split("=", 1) for part in auth[len("ACS3-HMAC-SHA256 "):].split(","))
        secret = self.keys.get(fields.get("Credential", ""))
        if secret is None:
            raise EcsError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        signed = fields.get("SignedHeaders", "").split(";")
        headers = {k.lower(): v for k, v in request.headers.items()}
        want = acs3_signature(secret, request.method, request.path, params, headers, signed,
                              headers.get("x-acs-content-sha256", ""))
        if not hmac.compare_digest(want, fields.get("Signature", "")):
            raise EcsError(400, "IncompleteSignature", "The request signature does not conform to Aliyun standards.")

    @staticmethod
    def _indexed(params: dict[str, str], prefix: str) -> list[str]:
        keys = sorted((k for k in params if k.startswith(prefix + ".") and k[len(prefix) + 1:].isdigit()),
                      key=lambda k: int(k[len(prefix) + 1:]))
        return [params[k] for k in keys]

    def _tags(self, params: dict[str, str]) -> list[Obj]:
        out = []
        n = 1
        while f"Tag.{n}.Key" in params:
            out.append({"TagKey": params[f"Tag.{n}.Key"], "TagValue": params.get(f"Tag.{n}.Value", "")})
            n += 1
        return out

    def _region(self, params: dict[str, str]) -> str:
        region = params.get("RegionId", "")
        if not region:
            raise EcsError(400, "MissingRegionId", "RegionId is mandatory for this action.")
        if region not in ZONES:
            raise EcsError(404, "InvalidRegionId.NotFound", "The specified RegionId does not exist.")
        return region

    def _run(self, params: dict[str, str]) -> Obj:
        region = self._region(params)
        for required in ("ImageId", "InstanceType"):
            if not params.get(required):
                raise EcsError(400, f"Missing{required}", f"{required} is mandatory for this action.")
        zone = params.get("ZoneId") or ZONES[region][0]
        if zone not in ZONES[region]:
            raise EcsError(404, "InvalidZoneId.NotFound", "The specified zone does not exist.")
        token = params.get("ClientToken", "")
        if token and token in self.tokens:
            return {"InstanceIdSets": {"InstanceIdSet": [self.tokens[token]]}}
        user_data = params.get("UserData", "")
        try:
            decoded = base64.b64decode(user_data, validate=True)
        except binascii.Error:
            raise EcsError(400, "InvalidUserData.Base64FormatInvalid", "The UserData is not base64.") from None
        if len(user_data) > 32768:
            raise EcsError(400, "InvalidUserData.SizeExceeded", "The UserData exceeds 32 KB.")
        iid = "i-" + uuid.uuid4().hex[:20]
        n = len(self.instances) + 1
        self.instances[iid] = {
            "InstanceId": iid, "InstanceName": params.get("InstanceName", iid), "HostName": params.get("HostName", ""),
            "RegionId": region, "ZoneId": zone, "Status": "Pending", "InstanceType": params["InstanceType"],
            "ImageId": params["ImageId"], "Tags": {"Tag": self._tags(params)},
            "VpcAttributes": {"PrivateIpAddress": {"IpAddress": [f"172.16.0.{n}"]},
                              "VSwitchId": params.get("VSwitchId", "")},
            "PublicIpAddress": {"IpAddress": []}, "InnerIpAddress": {"IpAddress": []},
            "UserData": decoded.decode(),
        }
        if token:
            self.tokens[token] = iid
        return {"InstanceIdSets": {"InstanceIdSet": [iid]}, "OrderId": "", "TradePrice": 0.0}

    def _describe(self, params: dict[str, str]) -> Obj:
        region = self._region(params)
        want = self._tags(params)
        ids = json.loads(params["InstanceIds"]) if params.get("InstanceIds") else None
        found = []
        for inst in self.instances.values():
            if inst["RegionId"] != region or (ids is not None and inst["InstanceId"] not in ids):
                continue
            if all(t in inst["Tags"]["Tag"] for t in want):
                found.append({k: v for k, v in inst.items() if k != "UserData"})
            if inst["Status"] == "Pending":
                inst["Status"] = "Running"  # it boots between two looks
        size = int(params.get("PageSize", "10"))
        return {"TotalCount": len(found), "PageNumber": 1, "PageSize": size, "Instances": {"Instance": found[:size]}}

    def _delete(self, params: dict[str, str]) -> Obj:
        self._region(params)
        ids = self._indexed(params, "InstanceId")
        if not ids:
            raise EcsError(400, "MissingInstanceId", "InstanceId is mandatory for this action.")
        for iid in ids:
            inst = self.instances.get(iid)
            if inst is None:
                raise EcsError(404, "InvalidInstanceId.NotFound", "The specified InstanceId does not exist.")
            if inst["Status"] == "Running" and params.get("Force", "").lower() != "true":
                raise EcsError(403, "IncorrectInstanceStatus", "The current status of the instance does not "
                                                               "support this operation.")
        for iid in ids:
            self.instances.pop(iid)
        return {}


@asynccontextmanager
async def serve_ecs(ecs: FakeEcs) -> AsyncIterator[str]:
    """Serve `ecs` on a free loopback port; yields its endpoint (host:port)."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", ecs.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await runner.cleanup()
