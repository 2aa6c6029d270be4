"""The KubeNode console: server-rendered pages that act with the signed-in user's own credentials.

Why server-rendered HTML and a few lines of vanilla JavaScript (docs/console.md):
nothing to build, nothing fetched at run time (the assets ship in the
package), every page works without JavaScript except the live views, which
use Server-Sent Events fed by a Kubernetes watch.

Security model: the console holds no credentials of its own. A user signs in
with a bearer token or by uploading a kubeconfig; the console keeps that
credential in memory for the session (an opaque, HttpOnly, Secure,
SameSite=Strict cookie) and makes every API request with it, so the API
server's RBAC and admission decide — a read-only user's delete is refused
by the API, and the console shows the refusal. Every form carries the
session's CSRF token. The console is served over TLS only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import json
import secrets
import ssl
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from kubenode.api import constants as c
from kubenode.apimachinery.tasks import cancel_and_wait
from kubenode.client import errors
from kubenode.client.client import KubeClient
from kubenode.client.config import ClientConfig, config_from_kubeconfig_text
from kubenode.client.kinds import (
    CLUSTERS,
    COMPONENT_RELEASES,
    DEFENDER_POLICIES,
    MACHINE_COMPONENT_SETS,
    MACHINE_COMPONENTS,
    MACHINES,
    REMEDY_OPERATION_JOBS,
)
from kubenode.client.resources import EVENTS, NODES, SECRETS, Resource

from .assets import CONSOLE_JS, STYLE_CSS

Obj = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


#: The kinds the console reads (one definition each, in client/kinds.py).
JOBS = REMEDY_OPERATION_JOBS
POLICIES = DEFENDER_POLICIES
RELEASES = COMPONENT_RELEASES

COOKIE = "kubenode_console"
IMPORT_NAMESPACE = "kubenode-system"


@dataclass
class Session:
    """One signed-in user: their credential (as a client) and the CSRF token of their forms."""

    client: KubeClient
    csrf: str
    user: str


@dataclass
class ConsoleSettings:
    """Where the console's API server is (TLS settings of the cluster it manages)."""

    base: ClientConfig  # server URL and CA; credentials come from each user
    sessions: dict[str, Session] = field(default_factory=dict)


def e(value: Any) -> str:
    """HTML-escape anything."""
    return html.escape(str(value if value is not None else ""), quote=True)


def page(title: str, body: str, session: Session | None = None) -> web.Response:
    """A full HTML page."""
    nav = ""
    if session is not None:
        nav = ("<nav><a href='/'>Overview</a> <a href='/machines'>Machines</a> <a href='/rollouts'>Rollouts</a> "
               "<a href='/remediations'>Remediations</a> <a href='/defender'>Defender</a> "
               "<a href='/import'>Import a node</a> "
               f"<form method='post' action='/logout' class='inline'><input type='hidden' name='csrf' "
               f"value='{e(session.csrf)}'><button>Sign out {e(session.user)}</button></form></nav>")
    return web.Response(content_type="text/html", text=(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)} · KubeNode</title>"
        "<link rel='stylesheet' href='/static/style.css'><script src='/static/console.js' defer></script>"
        f"</head><body>{nav}<main><h1>{e(title)}</h1>{body}</main></body></html>"))


def table(headers: list[str], rows: list[list[str]], id_: str = "") -> str:
    """An HTML table; cells are already escaped."""
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in r) + "</tr>" for r in rows)
    ident = f" id='{e(id_)}'" if id_ else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def api_error(exc: errors.ApiError) -> str:
    """An API error as HTML: the message and every cause with its field."""
    causes = "".join(f"<li class='cause' data-field='{e(x.get('field'))}'><code>{e(x.get('field'))}</code>: "
                     f"{e(x.get('message'))}</li>" for x in getattr(exc, "causes", None) or [])
    return f"<div class='error' role='alert'><p>{e(exc)}</p><ul>{causes}</ul></div>"


class Console:
    """The aiohttp application."""

    def __init__(self, settings: ConsoleSettings) -> None:
        self.settings = settings
        self.app = web.Application(middlewares=[self._auth])
        r = self.app.router
        r.add_get("/login", self.login_form)
        r.add_post("/login", self.login)
        r.add_post("/logout", self.logout)
        r.add_get("/static/style.css", _asset(STYLE_CSS, "text/css"))
        r.add_get("/static/console.js", _asset(CONSOLE_JS, "text/javascript"))
        r.add_get("/", self.overview)
        r.add_get("/machines", self.machines)
        r.add_get("/machines/{name}", self.machine)
        r.add_post("/machines/{name}/delete", self.delete_machine)
        r.add_get("/rollouts", self.rollouts)
        r.add_get("/rollouts/stream", self.rollouts_stream)
        r.add_get("/remediations", self.remediations)
        r.add_get("/defender", self.defender)
        r.add_get("/import", self.import_form)
        r.add_post("/import", self.import_node)
        self.app.on_shutdown.append(self._end_streams)
        self.app.on_cleanup.append(self._close)
        self._streams: set[asyncio.Task[Any]] = set()

    async def _end_streams(self, _: web.Application) -> None:
        # Live views never end by themselves: stop them so the server can shut down.
        await cancel_and_wait(*self._streams, raise_errors=False)

    async def _close(self, _: web.Application) -> None:
        for s in self.settings.sessions.values():
            await s.client.close()
        self.settings.sessions.clear()

    # ------------------------------------------------------------------ sessions

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in ("/login", "/static/style.css", "/static/console.js"):
            return await handler(request)
        session = self.settings.sessions.get(request.cookies.get(COOKIE, ""))
        if session is None:
            return web.Response(status=401, content_type="text/html", text=(
                "<!doctype html><html><head><title>Sign in required</title></head><body><h1>401: sign in "
                "required</h1><p><a href='/login'>Sign in</a> with a bearer token or a kubeconfig.</p></body></html>"))
        if request.method == "POST":
            form = await request.post()  # aiohttp caches the parsed form for the handler
            if not secrets.compare_digest(str(form.get("csrf", "")), session.csrf):
                return web.Response(status=403, text="CSRF token missing or wrong: reload the page and try again")
        return await handler(request)

    def _session(self, request: web.Request) -> Session:
        """The request's session (the middleware let it through, so it exists)."""
        return self.settings.sessions[request.cookies.get(COOKIE, "")]

    async def login_form(self, request: web.Request, message: str = "") -> web.Response:
        err = f"<div class='error' role='alert'>{e(message)}</div>" if message else ""
        return page("Sign in", err + (
            "<form method='post' action='/login' enctype='multipart/form-data' id='login'>"
            "<label>Bearer token <input type='password' name='token' autocomplete='off'></label>"
            "<label>or a kubeconfig file <input type='file' name='kubeconfig'></label>"
            "<button type='submit'>Sign in</button></form>"
            "<p>The console acts with these credentials only: it can do what they may do, nothing more.</p>"))

    async def login(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        token = str(form.get("token") or "").strip()
        upload = form.get("kubeconfig")
        try:
            if token:
                config = dataclasses.replace(self.settings.base, token=token, token_file=None)
            elif upload is not None and hasattr(upload, "file"):
                config = config_from_kubeconfig_text(upload.file.read())
            else:
                return await self.login_form(request, "give a bearer token or a kubeconfig file")
        except errors.ConfigError as exc:
            return await self.login_form(request, str(exc))
        client = KubeClient(dataclasses.replace(config, user_agent="kubenode-console/0.1.0", max_retries=1))
        try:
            review = await client._request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", body={
                "apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
            user = str(((review.get("status") or {}).get("userInfo") or {}).get("username") or "user")
        except (errors.ApiError, OSError) as exc:
            await client.close()
            return await self.login_form(request, f"sign-in refused by the API server: {exc}")
        sid = secrets.token_urlsafe(32)
        self.settings.sessions[sid] = Session(client, secrets.token_urlsafe(32), user)
        resp = web.HTTPSeeOther("/")
        resp.set_cookie(COOKIE, sid, httponly=True, secure=True, samesite="Strict", path="/")
        return resp

    async def logout(self, request: web.Request) -> web.StreamResponse:
        sid = request.cookies.get(COOKIE, "")
        s = self.settings.sessions.pop(sid, None)
        if s is not None:
            await s.client.close()
        resp = web.HTTPSeeOther("/login")
        resp.del_cookie(COOKIE, path="/")
        return resp

    # ------------------------------------------------------------------ pages

    async def overview(self, request: web.Request) -> web.Response:
        s = self._session(request)
        cl = s.client
        nodes, _ = await cl.list(NODES)
        machines, _ = await cl.list(MACHINES)
        comps, _ = await cl.list(MACHINE_COMPONENTS)
        jobs, _ = await cl.list(JOBS)
        policies, _ = await cl.list(POLICIES)
        ready = sum(1 for n in nodes if any(x.get("type") == "Ready" and x.get("status") == "True"
                                            for x in (n.get("status") or {}).get("conditions") or []))
        phases = Counter(str((m.get("status") or {}).get("phase") or "Pending") for m in machines)
        versions = Counter(f"{(x.get('spec') or {}).get('component')} "
                           f"{(x.get('status') or {}).get('installedVersion') or '-'}" for x in comps)
        open_jobs = sum(1 for j in jobs if (j.get("status") or {}).get("phase") not in c.JOB_TERMINAL_PHASES)
        rows = [["this cluster", "<span data-k='nodes-ready'>" + e(ready) + "</span>",
                 "<span data-k='nodes-notready'>" + e(len(nodes) - ready) + "</span>",
                 e(", ".join(f"{p} {n}" for p, n in sorted(phases.items()))) or "-",
                 e(", ".join(f"{v}: {n}" for v, n in sorted(versions.items()))) or "-",
                 "<span data-k='remediations'>" + e(open_jobs) + "</span>",
                 e(", ".join(f"{p['metadata']['name']}={_circuit(p)}" for p in policies)) or "-"]]
        try:
            clusters, _ = await cl.list(CLUSTERS)
        except errors.ApiError:
            clusters = []
        for k in sorted(clusters, key=lambda x: x["metadata"]["name"]):
            st = k.get("status") or {}
            n = st.get("nodes") or {}
            rows.append([
                e(k["metadata"]["name"]) + ("" if st.get("reachable") else " <em>(unreachable)</em>"),
                e(n.get("ready", "?")), e(n.get("notReady", "?")),
                e(", ".join(f"{x['phase']} {x.get('count', 0)}"
                            for x in (st.get("machines") or {}).get("byPhase") or []) or "-"),
                e(", ".join(f"{x['component']} {x.get('version') or '-'}: {x.get('count', 0)}"
                            for x in st.get("components") or []) or "-"),
                e(st.get("openRemediations", "?")),
                e(", ".join(f"{x['policy']}={x.get('state')}" for x in st.get("defenderCircuits") or []) or "-")])
        return page("Fleet overview", table(["Cluster", "Nodes Ready", "Nodes NotReady", "Machines by phase",
                                             "Components by version", "Open remediations", "Defender circuits"],
                                            rows, "overview"), s)

    async def machines(self, request: web.Request) -> web.Response:
        s = self._session(request)
        phase, label = request.query.get("phase", ""), request.query.get("label", "")
        try:
            items, _ = await s.client.list(MACHINES, label_selector=label or None)
        except errors.ApiError as exc:
            return page("Machines", api_error(exc), s)
        if phase:
            items = [m for m in items if (m.get("status") or {}).get("phase") == phase]
        options = "".join(f"<option{' selected' if p == phase else ''}>{e(p)}</option>"
                          for p in ("", *c.MACHINE_PHASES))
        filt = (f"<form method='get' id='filters'><label>Phase <select name='phase'>{options}</select></label>"
                f"<label>Label selector <input name='label' value='{e(label)}'></label><button>Filter</button></form>")
        rows = [[f"<a href='/machines/{e(m['metadata']['name'])}'>{e(m['metadata']['name'])}</a>",
                 e((m.get("status") or {}).get("phase", "")),
                 e(((m.get("status") or {}).get("nodeRef") or {}).get("name", "")),
                 e(", ".join(f"{k}={v}" for k, v in sorted((m["metadata"].get("labels") or {}).items())))]
                for m in sorted(items, key=lambda x: x["metadata"]["name"])]
        return page("Machines", filt + table(["Name", "Phase", "Node", "Labels"], rows, "machines"), s)

    async def machine(self, request: web.Request) -> web.Response:
        s = self._session(request)
        name = request.match_info["name"]
        try:
            m = await s.client.get(MACHINES, name)
        except errors.ApiError as exc:
            return page(f"Machine {name}", api_error(exc), s)
        st = m.get("status") or {}
        conds = table(["Type", "Status", "Reason", "Message"], [
            [e(x.get("type")), e(x.get("status")), e(x.get("reason")), e(x.get("message"))]
            for x in st.get("conditions") or []])
        comps, _ = await s.client.list(MACHINE_COMPONENTS, label_selector=f"{c.LABEL_MACHINE}={name}")
        comp_rows = [[e((x.get("spec") or {}).get("component")), e((x.get("spec") or {}).get("version")),
                      e((x.get("status") or {}).get("installedVersion")), e((x.get("status") or {}).get("phase"))]
                     for x in comps]
        jobs, _ = await s.client.list(JOBS, label_selector=f"{c.LABEL_MACHINE}={name}")
        job_rows = [[e(j["metadata"]["name"]), e(((j.get("spec") or {}).get("action") or {}).get("type")),
                     e((j.get("status") or {}).get("phase"))] for j in jobs]
        try:
            events, _ = await s.client.list(EVENTS, "default", field_selector=f"involvedObject.name={name}")
        except (errors.ApiError, TypeError):
            events = []
        ev_rows = [[e(x.get("lastTimestamp") or x.get("eventTime")), e(x.get("type")), e(x.get("reason")),
                    e(x.get("message"))] for x in events]
        delete = (f"<form method='post' action='/machines/{e(name)}/delete' id='delete'>"
                  f"<input type='hidden' name='csrf' value='{e(s.csrf)}'><button>Delete machine</button></form>")
        body = (f"<p>Phase: <strong id='phase'>{e(st.get('phase'))}</strong></p><h2>Conditions</h2>{conds}"
                f"<h2>Components</h2>{table(['Component', 'Version', 'Installed', 'Phase'], comp_rows)}"
                f"<h2>Jobs</h2>{table(['Job', 'Action', 'Phase'], job_rows)}"
                f"<h2>Events</h2>{table(['Time', 'Type', 'Reason', 'Message'], ev_rows)}{delete}")
        return page(f"Machine {name}", body, s)

    async def delete_machine(self, request: web.Request) -> web.Response:
        s = self._session(request)
        name = request.match_info["name"]
        try:
            await s.client.delete(MACHINES, name)
        except errors.ApiError as exc:
            return page(f"Machine {name}", api_error(exc), s)
        return page(f"Machine {name}", f"<p class='ok' role='status'>machine {e(name)} is being deleted</p>", s)

    async def rollouts(self, request: web.Request) -> web.Response:
        s = self._session(request)
        return page("Rollouts and releases", "<div id='rollouts' data-stream='/rollouts/stream'>"
                    + await self._rollouts_html(s) + "</div>", s)

    async def _rollouts_html(self, s: Session) -> str:
        sets, _ = await s.client.list(MACHINE_COMPONENT_SETS)
        rows = []
        for m in sorted(sets, key=lambda x: x["metadata"]["name"]):
            st = m.get("status") or {}
            rows.append([e(m["metadata"]["name"]), e(((m.get("spec") or {}).get("template") or {}).get("version")),
                         f"<span class='phase'>{e(st.get('phase'))}</span>",
                         f"{e(st.get('currentBatch', 0))}/{e(st.get('totalBatches', 0))}",
                         f"<span class='ready'>{e(st.get('ready', 0))}</span>/{e(st.get('desired', 0))}",
                         e(st.get("failed", 0))])
        out = table(["Set", "Version", "Phase", "Batch", "Ready", "Failed"], rows, "sets")
        try:
            releases, _ = await s.client.list(RELEASES)
        except errors.ApiError:
            releases = []
        rel_rows = []
        for r in releases:
            st = r.get("status") or {}
            for stage in st.get("stages") or []:
                rel_rows.append([e(r["metadata"]["name"]), e(st.get("version")), e(stage.get("name")),
                                 e(stage.get("phase")), e(", ".join(f"{x['name']}={x.get('phase')}"
                                                                    for x in stage.get("clusters") or []))])
        if rel_rows:
            out += "<h2>Releases</h2>" + table(["Release", "Version", "Stage", "Phase", "Clusters"], rel_rows)
        return out

    async def rollouts_stream(self, request: web.Request) -> web.StreamResponse:
        """Server-Sent Events: the rollouts table again after every change a watch reports."""
        s = self._session(request)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)

        async def pump() -> None:
            # A release's progress is on this page too: its stages move without any set changing here.
            async for _ in _changes(s.client, MACHINE_COMPONENT_SETS, optional=(RELEASES,)):
                await resp.write(f"data: {json.dumps(await self._rollouts_html(s))}\n\n".encode())

        task = asyncio.create_task(pump())
        self._streams.add(task)
        try:
            await task
        except (ConnectionResetError, asyncio.CancelledError, errors.ApiError, OSError):
            pass
        finally:
            task.cancel()
            self._streams.discard(task)
        return resp

    async def remediations(self, request: web.Request) -> web.Response:
        s = self._session(request)
        jobs, _ = await s.client.list(JOBS)
        jobs.sort(key=lambda j: j["metadata"].get("creationTimestamp", ""), reverse=True)
        rows = [[e(j["metadata"].get("creationTimestamp")), e((j.get("spec") or {}).get("nodeName")),
                 e((j.get("spec") or {}).get("rule")), e(((j.get("spec") or {}).get("action") or {}).get("type")),
                 e((j.get("status") or {}).get("phase")),
                 e(((j.get("status") or {}).get("defender") or {}).get("reason"))] for j in jobs]
        return page("Remediation timeline", table(["Created", "Node", "Rule", "Action", "Phase", "Defender"], rows,
                                                  "jobs"), s)

    async def defender(self, request: web.Request) -> web.Response:
        s = self._session(request)
        policies, _ = await s.client.list(POLICIES)
        body = ""
        for p in policies:
            st = p.get("status") or {}
            budgets = [[e(r.get("name")), e(b.get("window")), e(b.get("used")), e(b.get("limit")),
                        e(b.get("remaining"))] for r in st.get("rules") or [] for b in r.get("budgets") or []]
            decisions = [[e(d.get("time")), e(d.get("operation")), e(d.get("id")), e(d.get("decision")),
                          e(d.get("reason"))] for d in st.get("recentDecisions") or []]
            body += (f"<h2>{e(p['metadata']['name'])}: circuit {e((st.get('circuit') or {}).get('state', 'Closed'))}"
                     f"</h2>{table(['Rule', 'Window', 'Used', 'Limit', 'Remaining'], budgets)}"
                     f"<h3>Recent decisions</h3>{table(['Time', 'Operation', 'Id', 'Decision', 'Reason'], decisions)}")
        return page("Defender", body or "<p>No DefenderPolicy: nothing is throttled.</p>", s)

    async def import_form(self, request: web.Request, message: str = "", values: Obj | None = None) -> web.Response:
        s = self._session(request)
        v = values or {}
        return page("Import a node", message + (
            "<form method='post' action='/import' id='import'>"
            f"<input type='hidden' name='csrf' value='{e(s.csrf)}'>"
            f"<label>Machine name <input name='name' value='{e(v.get('name', ''))}' required></label>"
            f"<label>Address <input name='address' value='{e(v.get('address', ''))}'></label>"
            f"<label>Port <input name='port' value='{e(v.get('port', '22'))}'></label>"
            f"<label>User <input name='user' value='{e(v.get('user', 'root'))}'></label>"
            "<label>SSH private key <textarea name='key' rows='6'></textarea></label>"
            "<button type='submit'>Import</button></form>"), s)

    async def import_node(self, request: web.Request) -> web.Response:
        s = self._session(request)
        f = await request.post()
        values = {k: str(f.get(k) or "") for k in ("name", "address", "port", "user", "key")}
        name = values["name"].strip()
        try:
            port: Any = int(values["port"])
        except ValueError:
            port = values["port"]  # the API's schema names the field and says what is wrong
        machine = {"apiVersion": c.API_VERSION, "kind": c.KIND_MACHINE, "metadata": {"name": name},
                   "spec": {"import": {"address": values["address"], "port": port, "user": values["user"],
                                       "sshSecretRef": {"name": f"ssh-{name}", "namespace": IMPORT_NAMESPACE}}}}
        try:
            # Validate the Machine first (dry run), so a bad field creates no Secret.
            await s.client.create(MACHINES, machine, dry_run=True)
            await s.client.create(SECRETS, {
                "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/ssh-auth",
                "metadata": {"name": f"ssh-{name}", "namespace": IMPORT_NAMESPACE},
                "stringData": {"ssh-privatekey": values["key"]}}, IMPORT_NAMESPACE)
            await s.client.create(MACHINES, machine)
        except errors.ApiError as exc:
            return await self.import_form(request, api_error(exc), values)
        return page("Import a node", f"<p class='ok' role='status'>machine {e(name)} created; "
                    f"<a href='/machines/{e(name)}'>follow it</a></p>", s)


async def _changes(client: KubeClient, res: Resource, optional: tuple[Resource, ...] = ()) -> AsyncIterator[None]:
    """Yield once now and after watch events on `res` or any of `optional` (re-listing when a watch ends).

    Events that arrive while the consumer is busy are coalesced into one yield (the page is rendered
    whole). An API error on `res` ends the iteration with that error; an `optional` resource the cluster
    does not serve, or the user may not watch, is simply not followed.
    """
    wake: asyncio.Queue[BaseException | None] = asyncio.Queue(maxsize=1)

    def signal(item: BaseException | None) -> None:
        if wake.full():
            if item is None:
                return
            wake.get_nowait()
        wake.put_nowait(item)

    async def follow(r: Resource, required: bool) -> None:
        try:
            while True:
                _, rv = await client.list(r)
                async for _ in client.watch(r, resource_version=rv, timeout_seconds=300):
                    signal(None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the API's errors and lost connections end the stream (or this follower)
            if required:
                signal(exc)

    tasks = [asyncio.create_task(follow(res, True), name=f"console-watch-{res.plural}")]
    tasks += [asyncio.create_task(follow(r, False), name=f"console-watch-{r.plural}") for r in optional]
    try:
        yield None
        while True:
            item = await wake.get()
            if item is not None:
                raise item
            yield None
    finally:
        await cancel_and_wait(*tasks, raise_errors=False)


def _circuit(policy: Obj) -> str:
    return str(((policy.get("status") or {}).get("circuit") or {}).get("state", "Closed"))


def _asset(text: str, content_type: str) -> Handler:
    async def handler(_: web.Request) -> web.StreamResponse:
        return web.Response(text=text, content_type=content_type)

    return handler


@dataclass
class RunningConsole:
    """A started console."""

    url: str
    runner: web.AppRunner

    async def stop(self) -> None:
        """Stop serving."""
        await self.runner.cleanup()


async def start_console(base: ClientConfig, ssl_context: ssl.SSLContext, host: str = "127.0.0.1",
                        port: int = 0) -> RunningConsole:
    """Serve the console over TLS; `base` gives the API server and CA (users bring their credentials)."""
    console = Console(ConsoleSettings(dataclasses.replace(base, token=None, token_file=None)))
    runner = web.AppRunner(console.app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    await site.start()
    server: Any = site._server
    bound = server.sockets[0].getsockname()[1] if server is not None else port
    return RunningConsole(f"https://{host}:{bound}", runner)
