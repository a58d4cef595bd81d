"""graph-org-operator benchmark: convergence against a minimal direct client (the floor), cost at
rest, memory, start-up, and throttle efficiency. Run through scripts/bench, which builds the
release binaries (the operator and graph-emulator) and brings up the control plane; this file
drives one run and prints one JSON object and a short table.

Standard library only. Every server it talks to is on 127.0.0.1; every process it starts is
stopped by its pid.
"""

import argparse
import concurrent.futures
import datetime
import http.client
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

TENANT = "11111111-1111-4111-8111-111111111111"
CLIENT_ID = "aaaaaaaa-0000-4000-8000-000000000001"
SECRET = "bench-secret"


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


class Kube:
    """Just enough of the Kubernetes API: the admin client certificate from the kubeconfig."""

    def __init__(self, kubeconfig, kubectl):
        self.kubectl = kubectl
        self.kubeconfig = kubeconfig
        cfg = json.loads(self.run(["config", "view", "--raw", "-o", "json"]))
        cluster = cfg["clusters"][0]["cluster"]
        user = cfg["users"][0]["user"]
        self.server = urllib.parse.urlparse(cluster["server"])
        self.tmp = tempfile.mkdtemp()
        import base64

        def put(name, b64):
            path = os.path.join(self.tmp, name)
            with open(path, "wb") as f:
                f.write(base64.b64decode(b64))
            return path

        ctx = ssl.create_default_context(cafile=put("ca.crt", cluster["certificate-authority-data"]))
        ctx.load_cert_chain(put("admin.crt", user["client-certificate-data"]), put("admin.key", user["client-key-data"]))
        self.ctx = ctx
        self.local = threading.local()

    def run(self, args, stdin=None):
        r = subprocess.run([self.kubectl, "--kubeconfig", self.kubeconfig] + args, input=stdin,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout

    def conn(self):
        c = getattr(self.local, "c", None)
        if c is None:
            c = http.client.HTTPSConnection(self.server.hostname, self.server.port, context=self.ctx, timeout=60)
            self.local.c = c
        return c

    def request(self, method, path, body=None, content_type="application/json"):
        for attempt in range(3):
            c = self.conn()
            try:
                headers = {"Content-Type": content_type} if body is not None else {}
                c.request(method, path, body=body, headers=headers)
                r = c.getresponse()
                data = r.read()
                return r.status, data
            except (http.client.HTTPException, OSError):
                self.local.c = None
                if attempt == 2:
                    raise

    def metrics_writes(self):
        """apiserver_request_total for mutating verbs, by resource."""
        _, data = self.request("GET", "/metrics")
        out = {}
        for line in data.decode().splitlines():
            if not line.startswith("apiserver_request_total{"):
                continue
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
            if labels.get("verb") not in ("POST", "PUT", "PATCH", "DELETE", "APPLY", "CREATE", "UPDATE"):
                continue
            key = labels.get("resource", "") + ("/" + labels["subresource"] if labels.get("subresource") else "")
            out[key] = out.get(key, 0) + float(line.rsplit(" ", 1)[1])
        return out


def writes_delta(before, after, resources):
    return sum(after.get(k, 0) - before.get(k, 0) for k in after if k.split("/")[0] in resources)


class Proc:
    def __init__(self, args, env=None, stdout=None, stderr=None):
        self.p = subprocess.Popen(args, env=env, stdout=stdout or subprocess.DEVNULL, stderr=stderr or subprocess.DEVNULL)

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()

    def status_kib(self, field):
        try:
            with open(f"/proc/{self.p.pid}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        return int(line.split()[1])
        except FileNotFoundError:
            return None


def cpu_seconds(pid):
    """User + system CPU time a process has used so far (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (FileNotFoundError, ProcessLookupError):
        return None


class CpuMeter:
    """CPU seconds each process spends during a phase: where the time goes on 2 cores."""

    def __init__(self, pids):
        self.pids = {k: v for k, v in pids.items() if v}
        self.start = {k: cpu_seconds(p) for k, p in self.pids.items()}
        self.self_start = os.times()

    def done(self):
        out = {}
        for k, p in self.pids.items():
            now = cpu_seconds(p)
            if now is not None and self.start[k] is not None:
                out[k] = round(now - self.start[k], 1)
        t = os.times()
        out["bench client + kubectl"] = round(
            (t.user + t.system + t.children_user + t.children_system)
            - (self.self_start.user + self.self_start.system + self.self_start.children_user
               + self.self_start.children_system), 1)
        return out


def plane_pids(kubeconfig):
    """kube-apiserver's and etcd's pids, from the files scripts/dev-cluster keeps next to the kubeconfig."""
    out = {}
    for name in ("kube-apiserver", "etcd"):
        try:
            with open(os.path.join(os.path.dirname(kubeconfig), f"{name}.pid")) as f:
                out[name] = int(f.read().strip())
        except (FileNotFoundError, ValueError):
            out[name] = None
    return out


EMULATOR_URLS = []


def start_emulator(emulator_binary, workdir, extra=(), config=None):
    cfg = os.path.join(workdir, "emulator.yaml")
    with open(cfg, "w") as f:
        f.write(config or (
                f"tenants:\n- id: {TENANT}\n  domains: [contoso.onmicrosoft.com]\n"
                f"apps:\n- clientId: {CLIENT_ID}\n  homeTenant: {TENANT}\n  secrets: [{{value: {SECRET}}}]\n"
                f"  roles:\n    {TENANT}: [Organization.ReadWrite.All, MultiTenantOrganization.ReadWrite.All]\n"))
    p = subprocess.Popen([emulator_binary, "--listen", "127.0.0.1:0", "--config", cfg, *extra],
                         stdout=subprocess.PIPE, stderr=open(os.path.join(workdir, "emulator.log"), "w"), text=True)
    ready = json.loads(p.stdout.readline())
    proc = Proc.__new__(Proc)
    proc.p = p
    # The operator honours spec.endpoints only for origins its administrator allows.
    EMULATOR_URLS.append(ready["http"])
    return proc, ready["http"]


def emulator_get(url, path):
    with urllib.request.urlopen(url + path, timeout=30) as r:
        return json.loads(r.read())


def journal(url):
    j = emulator_get(url, "/_emulator/journal")
    return j if isinstance(j, list) else j.get("entries", [])


def graph_requests(entries):
    return [e for e in entries if "/oauth2/" not in e["path"] and not e["path"].startswith("/_emulator")]


def breakdown(entries):
    """Graph requests by method, path (ids folded) and status."""
    out = {}
    for e in entries:
        path = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "{id}", e["path"].split("?")[0])
        key = f'{e["method"]} {path} {e["status"]}'
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def org_docs(n, prefix):
    return "".join(
        f"---\napiVersion: graphorg.io/v1alpha1\nkind: Organization\nmetadata: {{name: {prefix}-{i}}}\n"
        f"spec: {{connectionRef: {{name: conn}}, displayName: {prefix}-{i}}}\n" for i in range(n))


def connection_docs(url):
    return (f"apiVersion: v1\nkind: Secret\nmetadata: {{name: creds}}\nstringData: {{clientSecret: {SECRET}}}\n---\n"
            f"apiVersion: graphorg.io/v1alpha1\nkind: TenantConnection\nmetadata: {{name: conn}}\nspec:\n"
            f"  tenantId: {TENANT}\n  clientId: {CLIENT_ID}\n  endpoints: {{graph: '{url}', authority: '{url}'}}\n"
            f"  clientSecret: {{secretRef: {{name: creds, key: clientSecret}}}}\n")


def new_namespace(kube, prefix):
    ns = f"{prefix}-{int(time.time() * 1000) % 10**8}"
    kube.run(["create", "namespace", ns])
    return ns


def remove_namespace(kube, ns):
    """Delete a namespace and everything in it. The local plane has no controller manager, so
    nobody else empties a deleted namespace: without this, each run would leave its N objects
    (and N Events) in etcd and in the API server's watch cache, and slow every later run."""
    collections = [f"/apis/graphorg.io/v1alpha1/namespaces/{ns}/{kind}" for kind in (
        "organizations", "multitenantorganizationmemberships", "multitenantorganizations",
        "crosstenantaccesspartners", "tenantconnections")]
    collections += [f"/api/v1/namespaces/{ns}/secrets", f"/api/v1/namespaces/{ns}/events",
                    f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"]
    for path in collections:
        code, data = kube.request("DELETE", path)
        if code >= 300 and code != 404:
            log(f"  cleanup: DELETE {path}: {code} {data[:200]!r}")
    kube.request("DELETE", f"/api/v1/namespaces/{ns}")
    # What the namespace controller would do once the namespace is empty.
    body = json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}, "spec": {"finalizers": []}})
    code, data = kube.request("PUT", f"/api/v1/namespaces/{ns}/finalize", body)
    if code >= 300:
        log(f"  cleanup: finalize namespace {ns}: {code} {data[:200]!r}")


def apply_bulk(kube, ns, docs):
    kube.run(["apply", "--server-side", "-n", ns, "-f", "-"], stdin=docs)


class ReadyWatch:
    """Watches Organizations in a namespace: when each first reports Ready, and how many times
    they changed (each change is one API server write that changed something)."""

    def __init__(self, kube, ns, on_added=None, collection="apis/graphorg.io/v1alpha1/namespaces/{ns}/organizations"):
        self.kube, self.ns = kube, ns
        self.collection = collection.format(ns=ns)
        self.on_added = on_added
        self.ready_at = {}
        self.changes = 0
        self.stop = False
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self):
        path = f"/{self.collection}?watch=1&allowWatchBookmarks=false"
        c = http.client.HTTPSConnection(self.kube.server.hostname, self.kube.server.port, context=self.kube.ctx, timeout=3600)
        c.request("GET", path)
        r = c.getresponse()
        buf = b""
        while not self.stop:
            chunk = r.read1(65536)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                ev = json.loads(line)
                if ev.get("type") in ("ADDED", "MODIFIED"):
                    self.changes += 1
                obj = ev.get("object", {})
                name = obj.get("metadata", {}).get("name")
                if self.on_added and ev.get("type") == "ADDED" and name:
                    self.on_added(name)
                conds = (obj.get("status") or {}).get("conditions") or []
                if name and name not in self.ready_at and any(c["type"] == "Ready" and c["status"] == "True" for c in conds):
                    self.ready_at[name] = time.monotonic()

    def wait(self, n, timeout):
        deadline = time.monotonic() + timeout
        last = -1
        while len(self.ready_at) < n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(self.ready_at)}/{n} Ready after {timeout}s")
            if len(self.ready_at) // max(1, n // 10) != last:
                last = len(self.ready_at) // max(1, n // 10)
                log(f"  {len(self.ready_at)}/{n} Ready")
            time.sleep(0.2)


def count_events(kube, ns):
    """Event objects in the namespace, summing series counts (a repeated Event is patched)."""
    items = json.loads(kube.run(["get", "events.events.k8s.io", "-n", ns, "-o", "json"]))["items"]
    return sum(1 + ((e.get("series") or {}).get("count", 1) - 1) for e in items)


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def start_operator(binary, kubeconfig, ns, workdir, name, extra=()):
    env = dict(os.environ, KUBECONFIG=kubeconfig, ALLOWED_ENDPOINTS=",".join(EMULATOR_URLS),
               RUST_LOG=os.environ.get("BENCH_RUST_LOG", "warn,graph_org_operator::run=info"))
    return Proc([binary, "run", "--watch-namespaces", ns, "--claims-namespace", ns, "--http-listen", "127.0.0.1:0",
                 "--concurrency", str(CONCURRENCY), *extra],
                env=env, stderr=open(os.path.join(workdir, f"{name}.log"), "w"))


def converge(args, kube, binary, n, workdir):
    log(f"phase converge_{n}: {n} Organizations applied at once, operator at concurrency {CONCURRENCY}")
    em, url = start_emulator(args.emulator_binary, workdir)
    ns = new_namespace(kube, "bench-op")
    apply_bulk(kube, ns, connection_docs(url))
    op = start_operator(binary, kube.kubeconfig, ns, workdir, "operator")
    peak = [0]

    def sample():
        while op.p.poll() is None:
            peak[0] = max(peak[0], op.status_kib("VmRSS") or 0)
            time.sleep(0.2)

    threading.Thread(target=sample, daemon=True).start()
    time.sleep(2)  # the connection becomes Ready
    watch = ReadyWatch(kube, ns)
    w0 = kube.metrics_writes()
    j0 = len(journal(url))
    e0 = count_events(kube, ns)
    cpu = CpuMeter({"operator": op.p.pid, "emulator": em.p.pid, **plane_pids(kube.kubeconfig)})
    t0 = time.monotonic()
    apply_bulk(kube, ns, org_docs(n, "org"))
    watch.wait(n, args.timeout)
    elapsed = time.monotonic() - t0
    cpu_used = cpu.done()
    lat = [t - t0 for t in watch.ready_at.values()]
    time.sleep(3)  # trailing writes (Events) land
    w1 = kube.metrics_writes()
    changes = watch.changes
    events = count_events(kube, ns) - e0
    entries = graph_requests(journal(url)[j0:])
    creates = sum(1 for e in entries if e["method"] == "POST" and e["path"].endswith("/organization") and e["status"] == 201)
    res = {
        "seconds": round(elapsed, 2),
        "p50_seconds": round(percentile(lat, 50), 2),
        "p99_seconds": round(percentile(lat, 99), 2),
        "graph_requests_per_resource": round(len(entries) / n, 2),
        "graph_requests_by_kind": breakdown(entries),
        "graph_creates_per_resource": round(creates / n, 3),
        # Operator writes in this namespace: Organization changes after the user's create (the
        # intent and the id on the resource, the status), and Events.
        "api_writes_per_resource": round((changes - n + events) / n, 2),
        "resource_writes_per_resource": round((changes - n) / n, 2),
        "events_per_resource": round(events / n, 2),
        # Cluster-wide apiserver_request_total (includes anything else running on the server).
        "apiserver_mutating_requests_per_resource": round(writes_delta(w0, w1, ["organizations", "events"]) / n, 2),
        "cpu_seconds": cpu_used,
    }
    log(f"  converged in {res['seconds']} s")

    log(f"phase at_rest: {args.rest} s with nothing changing")
    j2 = len(journal(url))
    c2, e2 = watch.changes, count_events(kube, ns)
    time.sleep(args.rest)
    rest_entries = graph_requests(journal(url)[j2:])
    at_rest = {
        "seconds": args.rest,
        "graph_requests": len(rest_entries),
        "graph_writes": sum(1 for e in rest_entries if e["method"] != "GET"),
        "api_writes": (watch.changes - c2) + (count_events(kube, ns) - e2),
    }
    memory = {"peak_rss_mib": round(max(peak[0], op.status_kib("VmHWM") or 0) / 1024, 1),
              "rest_rss_mib": round((op.status_kib("VmRSS") or 0) / 1024, 1)}
    op.stop()

    log(f"phase startup: operator restart with {n} existing resources, until /readyz")
    op2 = start_operator(binary, kube.kubeconfig, ns, workdir, "operator-restart")
    t = time.monotonic()
    startup = wait_ready_log(op2, workdir, "operator-restart", args.timeout)
    startup_s = round(time.monotonic() - t, 2) if startup else None
    op2.stop()
    em.stop()
    watch.stop = True
    remove_namespace(kube, ns)
    return res, at_rest, memory, startup_s


def wait_ready_log(op, workdir, name, timeout):
    """The operator logs 'watches synced; ready' when /readyz turns ok."""
    path = os.path.join(workdir, f"{name}.log")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path) as f:
            if "watches synced; ready" in f.read():
                return True
        time.sleep(0.05)
    return False


def floor(args, kube, n, workdir, intent=False):
    """The same creates by a minimal direct client: POST + one status patch. With `intent`, it
    also records the create's intent on the resource before the POST and the id after it (two
    metadata patches), as a client must to create exactly once across crashes, lagging lists and
    restores: the same durable work as the operator."""
    what = "intent patch + POST + id patch + status patch" if intent else "POST + status patch"
    log(f"phase floor_{n}{'_intent' if intent else ''}: the same {n} creates by a minimal direct client ({what}), concurrency {CONCURRENCY}")
    em, url = start_emulator(args.emulator_binary, workdir)
    ns = new_namespace(kube, "bench-floor")
    apply_bulk(kube, ns, connection_docs(url))
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": SECRET,
                                   "scope": "https://graph.microsoft.com/.default"}).encode()
    with urllib.request.urlopen(f"{url}/{TENANT}/oauth2/v2.0/token", data=form) as r:
        token = json.loads(r.read())["access_token"]
    host = urllib.parse.urlparse(url)
    local = threading.local()

    def one(name):
        c = getattr(local, "c", None)
        if c is None:
            c = local.c = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
        meta_path = f"/apis/graphorg.io/v1alpha1/namespaces/{ns}/organizations/{name}?fieldManager=floor"
        if intent:
            started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            pending = {"metadata": {"annotations": {
                "graphorg.io/create-intent": json.dumps({"startedAt": started, "preexistingIds": []})}}}
            code, data = kube.request("PATCH", meta_path, json.dumps(pending), "application/merge-patch+json")
            if code >= 300:
                raise RuntimeError(f"intent patch {code}: {data[:200]}")
        body = json.dumps({"displayName": name})
        c.request("POST", "/v1.0/organization", body=body,
                  headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        r = c.getresponse()
        org = json.loads(r.read())
        if intent:
            recorded = {"metadata": {"annotations": {"graphorg.io/graph-id": org["id"], "graphorg.io/create-intent": None}}}
            code, data = kube.request("PATCH", meta_path, json.dumps(recorded), "application/merge-patch+json")
            if code >= 300:
                raise RuntimeError(f"id patch {code}: {data[:200]}")
        status = {"apiVersion": "graphorg.io/v1alpha1", "kind": "Organization",
                  "status": {"id": org["id"], "observedGeneration": 1, "conditions": [
                      {"type": "Ready", "status": "True", "reason": "Created", "message": "created",
                       "lastTransitionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}]}}
        code, data = kube.request(
            "PATCH", f"/apis/graphorg.io/v1alpha1/namespaces/{ns}/organizations/{name}/status?fieldManager=floor&force=true",
            json.dumps(status), "application/apply-patch+yaml")
        if code >= 300:
            raise RuntimeError(f"status patch {code}: {data[:200]}")

    # Like the operator, the client learns of each object from a watch and starts on it at once,
    # while the apply is still running; a second watch (the same as in the converge phase)
    # times Ready.
    watch = ReadyWatch(kube, ns)
    cpu = CpuMeter({"emulator": em.p.pid, **plane_pids(kube.kubeconfig)})
    pool = concurrent.futures.ThreadPoolExecutor(CONCURRENCY)
    submitted = []
    client_watch = ReadyWatch(kube, ns, on_added=lambda name: submitted.append(pool.submit(one, name)))
    t0 = time.monotonic()
    apply_bulk(kube, ns, org_docs(n, "floor"))
    watch.wait(n, args.timeout)
    for f in submitted:
        f.result()  # raises if a create or patch failed
    pool.shutdown()
    client_watch.stop = True
    elapsed = time.monotonic() - t0
    cpu_used = cpu.done()
    lat = [t - t0 for t in watch.ready_at.values()]
    em.stop()
    watch.stop = True
    remove_namespace(kube, ns)
    log(f"  floor done in {elapsed:.2f} s")
    return {"seconds": round(elapsed, 2), "p50_seconds": round(percentile(lat, 50), 2), "p99_seconds": round(percentile(lat, 99), 2),
            "cpu_seconds": cpu_used}


def throttled(args, kube, binary, workdir):
    b, window = args.budget, 10.0
    n = args.throttle_n
    log(f"phase throttled: emulator budget {b} requests per {window:.0f} s per app+tenant, {n} Organizations")
    em, url = start_emulator(args.emulator_binary, workdir, ("--throttle-budget", str(b), "--throttle-window-secs", str(window)))
    ns = new_namespace(kube, "bench-thr")
    apply_bulk(kube, ns, connection_docs(url))
    op = start_operator(binary, kube.kubeconfig, ns, workdir, "operator-throttled")
    time.sleep(2)
    watch = ReadyWatch(kube, ns)
    j0 = len(journal(url))
    t0 = time.monotonic()
    apply_bulk(kube, ns, org_docs(n, "thr"))
    watch.wait(n, args.timeout)
    elapsed = time.monotonic() - t0
    entries = graph_requests(journal(url)[j0:])
    ok = [e for e in entries if e["status"] != 429]
    throttled_n = len(entries) - len(ok)
    creates = sum(1 for e in entries if e["method"] == "POST" and e["status"] == 201)
    op.stop()
    em.stop()
    watch.stop = True
    remove_namespace(kube, ns)
    # Budget use: successful requests against what the bucket could give in that time (it starts
    # full, then refills b per window).
    used = len(ok) / (b + b * elapsed / window)
    # When the 429s came, in seconds after the first request: a burst at the start (requests in
    # flight when the bucket ran dry) is a different problem from a pacer that keeps overrunning.
    def secs(e):
        return datetime.datetime.fromisoformat(e["time"][:26].rstrip("Z")).timestamp()
    first = secs(entries[0]) if entries else 0
    at_429 = [round(secs(e) - first, 1) for e in entries if e["status"] == 429]
    return {"budget_per_10s": b, "resources": n, "seconds": round(elapsed, 2),
            "seconds_of_429s": at_429,
            "creates_per_10s": round(creates / (elapsed / window), 1),
            "budget_used_fraction": round(used, 3),
            "share_429": round(throttled_n / max(1, len(entries)), 4),
            "graph_requests": len(entries)}


# ------------------------------------------------------------------------------------------------
# --mto N: one multi-tenant organization of N tenants (an owner and N-1 members) converging from
# nothing: connections, the owner's MultiTenantOrganization with its templates, each member's
# Membership with the same templates, and CrossTenantAccessPartner resources on both sides of every
# owner-member pair (the joins auto-create those partner objects; the resources adopt them).

MTO_ROLES = ("Organization.ReadWrite.All, MultiTenantOrganization.ReadWrite.All, "
             "Policy.ReadWrite.CrossTenantAccess, CrossTenantInformation.ReadBasic.All")
# Emulated seconds per real second: Graph's 2 h wait between the MTO's creation and a join is 4 s.
MTO_TIME_SCALE = 1800
MTO_JOIN_AFTER_CREATE = 7200  # emulated seconds (the emulator's --mto-join-after-create-secs default)
# The operator's --transition-poll; the floor polls a running join as often.
MTO_POLL = 1.0
GRAPH = "/v1.0"
MTO_PATH = f"{GRAPH}/tenantRelationships/multiTenantOrganization"
XTAP_PATH = f"{GRAPH}/policies/crossTenantAccessPolicy"
TEMPLATE_SYNC = {"userSyncInbound": {"isSyncAllowed": True}}
TEMPLATE_PARTNER = {"automaticUserConsentSettings": {"inboundAllowed": True, "outboundAllowed": True}}
# The kinds, by plural, in the order they are applied.
MTO_KINDS = ("tenantconnections", "multitenantorganizations", "multitenantorganizationmemberships",
             "crosstenantaccesspartners")
MTO_KIND_NAMES = {"tenantconnections": "TenantConnection", "multitenantorganizations": "MultiTenantOrganization",
                  "multitenantorganizationmemberships": "MultiTenantOrganizationMembership",
                  "crosstenantaccesspartners": "CrossTenantAccessPartner"}


def mto_tenants(n):
    """(id, domain, displayName, connection name) for the owner (index 0) and n-1 members."""
    out = []
    for i in range(n):
        out.append((f"{i + 1:08x}-bbbb-4bbb-8bbb-{i + 1:012x}", f"t{i:03d}.onmicrosoft.com",
                    "Owner" if i == 0 else f"Member {i:03d}", f"conn-{i:03d}"))
    return out


def mto_emulator_config(tenants):
    lines = ["tenants:"]
    for tid, domain, name, _ in tenants:
        lines.append(f"- id: {tid}\n  domains: [{domain}]\n  displayName: {name}")
    lines.append(f"apps:\n- clientId: {CLIENT_ID}\n  homeTenant: {tenants[0][0]}\n  secrets: [{{value: {SECRET}}}]\n  roles:")
    for tid, *_ in tenants:
        lines.append(f"    {tid}: [{MTO_ROLES}]")
    return "\n".join(lines) + "\n"


def mto_templates_yaml(indent):
    pad = " " * indent
    return (f"{pad}templates:\n{pad}  identitySynchronization: {{userSyncInbound: {{isSyncAllowed: true}}}}\n"
            f"{pad}  partnerConfiguration: {{automaticUserConsentSettings: {{inboundAllowed: true, outboundAllowed: true}}}}\n")


def mto_partner_name(side, i):
    """The CrossTenantAccessPartner resource for member i: in the owner's tenant ("owner")
    or in the member's tenant, for the owner ("member")."""
    return f"owner-for-{i:03d}" if side == "owner" else f"m{i:03d}-for-owner"


def mto_docs(url, tenants):
    """Every resource of the MTO, in one multi-document YAML, and how many of each kind."""
    owner = tenants[0]
    members = tenants[1:]
    docs = [f"apiVersion: v1\nkind: Secret\nmetadata: {{name: creds}}\nstringData: {{clientSecret: {SECRET}}}\n"]
    for tid, _, _, conn in tenants:
        docs.append(f"apiVersion: graphorg.io/v1alpha1\nkind: TenantConnection\nmetadata: {{name: {conn}}}\nspec:\n"
                    f"  tenantId: {tid}\n  clientId: {CLIENT_ID}\n  endpoints: {{graph: '{url}', authority: '{url}'}}\n"
                    f"  clientSecret: {{secretRef: {{name: creds, key: clientSecret}}}}\n")
    listed = "".join(f"  - {{tenantId: {tid}, displayName: {name}, role: member}}\n" for tid, _, name, _ in members)
    docs.append(f"apiVersion: graphorg.io/v1alpha1\nkind: MultiTenantOrganization\nmetadata: {{name: group}}\nspec:\n"
                f"  connectionRef: {{name: {owner[3]}}}\n  displayName: Bench Group\n  description: bench\n"
                f"{mto_templates_yaml(2)}  tenants:\n{listed}")
    for i, (tid, _, _, conn) in enumerate(members, start=1):
        docs.append(f"apiVersion: graphorg.io/v1alpha1\nkind: MultiTenantOrganizationMembership\n"
                    f"metadata: {{name: join-{i:03d}}}\nspec:\n  connectionRef: {{name: {conn}}}\n"
                    f"  ownerTenantId: {owner[0]}\n  multiTenantOrganizationRef: {{name: group}}\n{mto_templates_yaml(2)}")

    def partner(name, conn, partner_id, partner_name):
        # The same settings the templates give, plus a display name for the sync policy (by
        # convention the partner's name): adopting the join's objects takes one PATCH of it.
        return (f"apiVersion: graphorg.io/v1alpha1\nkind: CrossTenantAccessPartner\nmetadata: {{name: {name}}}\nspec:\n"
                f"  connectionRef: {{name: {conn}}}\n  partnerTenantId: {partner_id}\n"
                f"  automaticUserConsentSettings: {{inboundAllowed: true, outboundAllowed: true}}\n"
                f"  identitySynchronization: {{displayName: '{partner_name}', userSyncInbound: {{isSyncAllowed: true}}}}\n")

    for i, (tid, _, name, conn) in enumerate(members, start=1):
        docs.append(partner(mto_partner_name("owner", i), owner[3], tid, name))
        docs.append(partner(mto_partner_name("member", i), conn, owner[0], owner[2]))
    counts = {"tenantconnections": len(tenants), "multitenantorganizations": 1,
              "multitenantorganizationmemberships": len(members), "crosstenantaccesspartners": 2 * len(members)}
    return "---\n".join(docs), counts


def mto_is_ready(plural, obj):
    conds = (obj.get("status") or {}).get("conditions") or []
    ready = next((c for c in conds if c.get("type") == "Ready"), None)
    if not ready or ready.get("status") != "True":
        return False
    # A Membership is done when it has joined, not merely when it is healthy.
    return plural != "multitenantorganizationmemberships" or ready.get("reason") == "Joined"


class KindsWatch:
    """Watches every MTO kind in a namespace: when each resource first reports Ready, how many
    times each kind's objects changed (each change is an API server write), the last object seen,
    and when the MTO's status first showed all its tenants active."""

    def __init__(self, kube, ns, expected_active=None):
        self.kube, self.ns = kube, ns
        self.expected_active = expected_active
        self.ready_at = {}
        self.changes = {k: 0 for k in MTO_KINDS}
        self.last = {}
        self.all_active_at = None
        self.stop = False
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.loop, args=(k,), daemon=True) for k in MTO_KINDS]
        for t in self.threads:
            t.start()

    def loop(self, plural):
        path = f"/apis/graphorg.io/v1alpha1/namespaces/{self.ns}/{plural}?watch=1&allowWatchBookmarks=false"
        c = http.client.HTTPSConnection(self.kube.server.hostname, self.kube.server.port, context=self.kube.ctx, timeout=3600)
        c.request("GET", path)
        r = c.getresponse()
        buf = b""
        while not self.stop:
            chunk = r.read1(65536)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                ev = json.loads(line)
                obj = ev.get("object", {})
                name = obj.get("metadata", {}).get("name")
                if not name or ev.get("type") not in ("ADDED", "MODIFIED"):
                    continue
                now = time.monotonic()
                with self.lock:
                    self.changes[plural] += 1
                    self.last[(plural, name)] = obj
                    if (plural, name) not in self.ready_at and mto_is_ready(plural, obj):
                        self.ready_at[(plural, name)] = now
                    if (plural == "multitenantorganizations" and self.all_active_at is None and self.expected_active
                            and (obj.get("status") or {}).get("active") == self.expected_active):
                        self.all_active_at = now

    def total_changes(self):
        with self.lock:
            return sum(self.changes.values())

    def ready_by_kind(self):
        out = {k: 0 for k in MTO_KINDS}
        with self.lock:
            for plural, _ in self.ready_at:
                out[plural] += 1
        return out

    def wait(self, counts, timeout, label):
        total = sum(counts.values())
        deadline = time.monotonic() + timeout
        last_log = 0.0
        while len(self.ready_at) < total:
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(f"{label}: only {len(self.ready_at)}/{total} Ready after {timeout}s")
            if now - last_log >= 5:
                last_log = now
                by = self.ready_by_kind()
                log(f"  {label}: ready {len(self.ready_at)}/{total} (" + ", ".join(
                    f"{MTO_KIND_NAMES[k]} {by[k]}/{counts[k]}" for k in MTO_KINDS) + ")")
            time.sleep(0.2)
        log(f"  {label}: ready {total}/{total}")

    def not_ready(self, limit=20):
        """Resources not Ready, with their Ready/Stalled condition: evidence for a report."""
        out = []
        with self.lock:
            for (plural, name), obj in sorted(self.last.items()):
                if (plural, name) in self.ready_at:
                    continue
                conds = {c.get("type"): c for c in (obj.get("status") or {}).get("conditions") or []}
                c = conds.get("Stalled") if (conds.get("Stalled") or {}).get("status") == "True" else conds.get("Ready")
                out.append({"kind": MTO_KIND_NAMES[plural], "name": name,
                            "condition": c and {k: c.get(k) for k in ("type", "status", "reason", "message")}})
        return out[:limit], len(out)


def per_tenant(entries, tenants, token):
    """Requests per tenant (the journal's tenant field): token requests when `token`, Graph
    requests otherwise."""
    ids = {t[0].lower() for t in tenants}
    counts = {t[0].lower(): 0 for t in tenants}
    for e in entries:
        if ("/oauth2/v2.0/token" in e["path"]) != token or e["path"].startswith("/_emulator"):
            continue
        t = (e.get("tenant") or "").lower()
        if not t and token:
            t = e["path"].split("/")[1].lower()
        if t in ids:
            counts[t] += 1
        else:
            counts.setdefault("(other)", 0)
            counts["(other)"] += 1
    return counts


def spread(counts, owner):
    members = sorted(v for k, v in counts.items() if k not in (owner, "(other)"))
    if not members:
        return {"owner": counts.get(owner, 0)}
    return {"owner": counts.get(owner, 0), "member_min": members[0], "member_median": members[len(members) // 2],
            "member_max": members[-1], "mean_all": round(sum(counts.values()) / len(counts), 2),
            "total": sum(counts.values())}


def mto_start_emulator(args, workdir, tenants):
    return start_emulator(args.emulator_binary, workdir, ("--time-scale", str(MTO_TIME_SCALE)),
                          config=mto_emulator_config(tenants))


def mto_converge(args, kube, binary, workdir):
    n = args.mto
    tenants = mto_tenants(n)
    owner_id = tenants[0][0].lower()
    log(f"phase mto_converge_{n}: one MTO of {n} tenants (owner + {n - 1} members) applied at once, "
        f"operator at concurrency {CONCURRENCY}, --transition-poll {MTO_POLL:g}s, emulator --time-scale {MTO_TIME_SCALE}")
    em, url = mto_start_emulator(args, workdir, tenants)
    ns = new_namespace(kube, "bench-mto")
    op = start_operator(binary, kube.kubeconfig, ns, workdir, "operator-mto",
                        ("--transition-poll", f"{MTO_POLL:g}s"))
    watch = None
    try:
        if not wait_ready_log(op, workdir, "operator-mto", 60):
            raise RuntimeError("the operator did not become ready in 60 s")
        peak = [0]

        def sample():
            while op.p.poll() is None:
                peak[0] = max(peak[0], op.status_kib("VmRSS") or 0)
                time.sleep(0.2)

        threading.Thread(target=sample, daemon=True).start()
        docs, counts = mto_docs(url, tenants)
        total = sum(counts.values())
        watch = KindsWatch(kube, ns, expected_active=f"{n}/{n}")
        j0 = len(journal(url))
        e0 = count_events(kube, ns)
        cpu = CpuMeter({"operator": op.p.pid, "emulator": em.p.pid, **plane_pids(kube.kubeconfig)})
        log(f"  applying {total} resources ({', '.join(f'{v} {MTO_KIND_NAMES[k]}' for k, v in counts.items())}) and a Secret")
        t0 = time.monotonic()
        apply_bulk(kube, ns, docs)
        log(f"  applied in {time.monotonic() - t0:.1f} s; waiting for Ready")
        try:
            watch.wait(counts, args.timeout, "operator")
        except TimeoutError as e:
            shown, missing = watch.not_ready()
            log(f"  {e}; {missing} not Ready, first {len(shown)}:")
            for r in shown:
                log(f"    {r['kind']}/{r['name']}: {r['condition']}")
            raise
        elapsed = time.monotonic() - t0
        cpu_used = cpu.done()
        lat = [t - t0 for t in watch.ready_at.values()]
        by_kind_s = {}
        for (plural, _), t in watch.ready_at.items():
            by_kind_s[MTO_KIND_NAMES[plural]] = round(max(by_kind_s.get(MTO_KIND_NAMES[plural], 0), t - t0), 2)
        time.sleep(3)  # trailing writes (Events) land
        changes = watch.total_changes()
        events = count_events(kube, ns) - e0
        all_entries = [e for e in journal(url)[j0:] if not e["path"].startswith("/_emulator")]
        entries = graph_requests(all_entries)
        graph_pt = per_tenant(all_entries, tenants, token=False)
        token_pt = per_tenant(all_entries, tenants, token=True)
        with watch.lock:
            partners = [o for (p, _), o in watch.last.items() if p == "crosstenantaccesspartners"]
        origins = {}
        for o in partners:
            st = o.get("status") or {}
            key = f"partner {st.get('partner')}, identitySynchronization {st.get('identitySynchronization')}"
            origins[key] = origins.get(key, 0) + 1
        in_mto = sum(1 for o in partners if (o.get("status") or {}).get("isInMultiTenantOrganization") is True)
        res = {
            "tenants": n,
            "resources": counts,
            "seconds": round(elapsed, 2),
            "p50_seconds": round(percentile(lat, 50), 2),
            "p99_seconds": round(percentile(lat, 99), 2),
            "last_ready_seconds_by_kind": by_kind_s,
            "mto_status_all_active_seconds": watch.all_active_at and round(watch.all_active_at - t0, 2),
            "graph_requests": len(entries),
            "graph_requests_per_tenant": spread(graph_pt, owner_id),
            "token_requests_per_tenant": spread(token_pt, owner_id),
            "tenants_with_token_requests_not_1": sum(1 for k, v in token_pt.items() if k != "(other)" and v != 1),
            "graph_requests_by_kind": breakdown(entries),
            "share_429": round(sum(1 for e in all_entries if e["status"] == 429) / max(1, len(all_entries)), 4),
            "partner_origins": origins,
            "partners_in_mto": in_mto,
            # Operator writes in this namespace: changes after the user's creates, and Events.
            "api_writes": changes - total + events,
            "status_writes_per_resource": round((changes - total) / total, 2),
            "events": events,
            "cpu_seconds": cpu_used,
        }
        log(f"  converged in {res['seconds']} s")

        log(f"phase mto_at_rest: {args.rest} s with nothing changing")
        j2 = len(journal(url))
        c2, e2 = watch.total_changes(), count_events(kube, ns)
        t_rest = time.monotonic()
        while time.monotonic() - t_rest < args.rest:
            time.sleep(min(10, args.rest - (time.monotonic() - t_rest)))
            log(f"  at rest {time.monotonic() - t_rest:.0f}/{args.rest} s")
        rest_all = [e for e in journal(url)[j2:] if not e["path"].startswith("/_emulator")]
        rest_entries = graph_requests(rest_all)
        at_rest = {
            "seconds": args.rest,
            "graph_requests": len(rest_entries),
            "graph_writes": sum(1 for e in rest_entries if e["method"] != "GET"),
            "token_requests": len(rest_all) - len(rest_entries),
            "graph_requests_by_kind": breakdown(rest_entries),
            "api_writes": (watch.total_changes() - c2) + (count_events(kube, ns) - e2),
        }
        # 429s over the whole run, the rest window included.
        run_all = all_entries + rest_all
        res["share_429"] = round(sum(1 for e in run_all if e["status"] == 429) / max(1, len(run_all)), 4)
        tokens_total = per_tenant(run_all, tenants, token=True)
        res["token_requests_per_tenant_incl_rest"] = spread(tokens_total, owner_id)
        memory = {"peak_rss_mib": round(max(peak[0], op.status_kib("VmHWM") or 0) / 1024, 1),
                  "rest_rss_mib": round((op.status_kib("VmRSS") or 0) / 1024, 1)}
        return res, at_rest, memory
    finally:
        op.stop()
        em.stop()
        if watch:
            watch.stop = True
        remove_namespace(kube, ns)


class FloorGraph:
    """A minimal Graph client: one token per tenant, keep-alive connections per thread, no retries
    beyond what the protocol needs."""

    def __init__(self, url):
        self.url = url
        self.host = urllib.parse.urlparse(url)
        self.local = threading.local()
        self.tokens = {}

    def conn(self):
        c = getattr(self.local, "c", None)
        if c is None:
            c = self.local.c = http.client.HTTPConnection(self.host.hostname, self.host.port, timeout=60)
        return c

    def token(self, tenant):
        form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": CLIENT_ID,
                                       "client_secret": SECRET, "scope": "https://graph.microsoft.com/.default"})
        status, body = self.call(None, "POST", f"/{tenant}/oauth2/v2.0/token", form,
                                 "application/x-www-form-urlencoded")
        if status != 200:
            raise RuntimeError(f"token for {tenant}: {status} {body}")
        self.tokens[tenant] = body["access_token"]

    def call(self, tenant, method, path, body=None, content_type="application/json"):
        headers = {}
        if tenant:
            headers["Authorization"] = f"Bearer {self.tokens[tenant]}"
        if body is not None:
            headers["Content-Type"] = content_type
            if not isinstance(body, str):
                body = json.dumps(body)
        for attempt in range(2):
            c = self.conn()
            try:
                c.request(method, path, body=body, headers=headers)
                r = c.getresponse()
                data = r.read()
                return r.status, (json.loads(data) if data else None)
            except (http.client.HTTPException, OSError):
                self.local.c = None
                if attempt == 1:
                    raise

    def ok(self, tenant, method, path, body=None, expect=(200, 201, 204)):
        status, data = self.call(tenant, method, path, body)
        if status not in expect:
            raise RuntimeError(f"{method} {path} as {tenant}: {status} {json.dumps(data)[:300]}")
        return data


def mto_floor(args, kube, workdir):
    """The same Graph work by a minimal direct client, in Microsoft's order, and each resource's
    status written once, as the organizations floor does."""
    n = args.mto
    tenants = mto_tenants(n)
    owner = tenants[0]
    members = tenants[1:]
    log(f"phase mto_floor_{n}: the same Graph calls by a minimal direct client (tokens, templates, lookups, PUT, "
        f"{n - 1} adds, {n - 1} joins, partner and sync GET/PATCH on both sides) + one status write per resource, "
        f"concurrency {CONCURRENCY}")
    em, url = mto_start_emulator(args, workdir, tenants)
    ns = new_namespace(kube, "bench-mto-floor")
    watch = None
    pool = concurrent.futures.ThreadPoolExecutor(CONCURRENCY)
    try:
        docs, counts = mto_docs(url, tenants)
        g = FloorGraph(url)
        watch = KindsWatch(kube, ns)
        cpu = CpuMeter({"emulator": em.p.pid, **plane_pids(kube.kubeconfig)})
        stamp = lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

        def status(plural, name, reason, extra=None):
            body = {"apiVersion": "graphorg.io/v1alpha1", "kind": MTO_KIND_NAMES[plural],
                    "status": {"observedGeneration": 1, **(extra or {}), "conditions": [
                        {"type": "Ready", "status": "True", "reason": reason, "message": reason,
                         "lastTransitionTime": stamp()}]}}
            code, data = kube.request(
                "PATCH", f"/apis/graphorg.io/v1alpha1/namespaces/{ns}/{plural}/{name}/status?fieldManager=floor&force=true",
                json.dumps(body), "application/apply-patch+yaml")
            if code >= 300:
                raise RuntimeError(f"status patch {plural}/{name}: {code} {data[:200]}")

        def each(fn, items):
            for f in [pool.submit(fn, *it) if isinstance(it, tuple) else pool.submit(fn, it) for it in items]:
                f.result()

        t0 = time.monotonic()
        # The apply runs beside the Graph work (the operator, too, starts on each object as it
        # arrives); statuses are written once the objects exist.
        applied = threading.Event()
        apply_error = []

        def do_apply():
            try:
                apply_bulk(kube, ns, docs)
            except Exception as e:  # reported below
                apply_error.append(e)
            applied.set()

        threading.Thread(target=do_apply, daemon=True).start()

        def wait_applied():
            applied.wait()
            if apply_error:
                raise apply_error[0]

        log("  tokens")
        each(g.token, [t[0] for t in tenants])
        log("  templates")

        def templates(tid):
            g.ok(tid, "PATCH", f"{XTAP_PATH}/templates/multiTenantOrganizationIdentitySynchronization", TEMPLATE_SYNC)
            g.ok(tid, "PATCH", f"{XTAP_PATH}/templates/multiTenantOrganizationPartnerConfiguration", TEMPLATE_PARTNER)

        each(templates, [t[0] for t in tenants])
        log("  lookups, PUT, adds")
        each(lambda tid: g.ok(owner[0], "GET", f"{GRAPH}/tenantRelationships/findTenantInformationByTenantId(tenantId='{tid}')"),
             [t[0] for t in members])
        g.ok(owner[0], "PUT", MTO_PATH, {"displayName": "Bench Group", "description": "bench"})
        t_put = time.monotonic()
        # Graph takes minutes to create it (GET says inactive meanwhile); adds wait for active.
        while g.ok(owner[0], "GET", MTO_PATH).get("state") != "active":
            time.sleep(MTO_POLL)
        each(lambda tid, name: g.ok(owner[0], "POST", f"{MTO_PATH}/tenants",
                                    {"tenantId": tid, "displayName": name, "role": "member"}),
             [(t[0], t[2]) for t in members])
        wait_applied()
        each(lambda name: status("tenantconnections", name, "Connected"), [t[3] for t in tenants])
        status("multitenantorganizations", "group", "Created")
        log("  waiting until joinable, then joins")
        time.sleep(max(0.0, t_put + MTO_JOIN_AFTER_CREATE / MTO_TIME_SCALE - time.monotonic()))

        def join(tid):
            while True:
                code, data = g.call(tid, "PATCH", f"{MTO_PATH}/joinRequest", {"addedByTenantId": owner[0]})
                if code == 204:
                    return
                if code == 400 and "less than" in json.dumps(data):
                    time.sleep(0.05)  # a little early
                    continue
                raise RuntimeError(f"join by {tid}: {code} {json.dumps(data)[:300]}")

        each(join, [t[0] for t in members])
        log("  polling until active")
        pending = {t[0].lower() for t in members}
        while pending:
            time.sleep(MTO_POLL)
            listed = g.ok(owner[0], "GET", f"{MTO_PATH}/tenants")
            active = {m["tenantId"].lower() for m in listed.get("value", []) if m.get("state") == "active"}
            pending -= active
            if listed.get("@odata.nextLink"):
                raise RuntimeError("member list is paged; the floor reads one page")
        each(lambda i: status("multitenantorganizationmemberships", f"join-{i:03d}", "Joined", {"memberState": "active"}),
             range(1, n))
        log("  partner settings and identity sync on both sides")

        def settle_partner(side, i, tid, partner_id, partner_name):
            p = g.ok(tid, "GET", f"{XTAP_PATH}/partners/{partner_id}")
            if p.get("automaticUserConsentSettings") != TEMPLATE_PARTNER["automaticUserConsentSettings"]:
                g.ok(tid, "PATCH", f"{XTAP_PATH}/partners/{partner_id}", TEMPLATE_PARTNER)
            s = g.ok(tid, "GET", f"{XTAP_PATH}/partners/{partner_id}/identitySynchronization")
            want = {"displayName": partner_name, **TEMPLATE_SYNC}
            if s.get("displayName") != want["displayName"] or s.get("userSyncInbound") != want["userSyncInbound"]:
                g.ok(tid, "PATCH", f"{XTAP_PATH}/partners/{partner_id}/identitySynchronization", want)
            status("crosstenantaccesspartners", mto_partner_name(side, i), "Adopted",
                   {"partner": "Adopted", "identitySynchronization": "Adopted"})

        work = []
        for i, (tid, _, name, _) in enumerate(members, start=1):
            work.append(("owner", i, owner[0], tid, name))
            work.append(("member", i, tid, owner[0], owner[2]))
        each(settle_partner, work)
        watch.wait(counts, args.timeout, "floor")
        elapsed = time.monotonic() - t0
        cpu_used = cpu.done()
        lat = [t - t0 for t in watch.ready_at.values()]
        entries = [e for e in journal(url) if not e["path"].startswith("/_emulator")]
        log(f"  floor done in {elapsed:.2f} s")
        return {"seconds": round(elapsed, 2), "p50_seconds": round(percentile(lat, 50), 2),
                "p99_seconds": round(percentile(lat, 99), 2),
                "graph_requests": len(graph_requests(entries)),
                "graph_requests_per_tenant": spread(per_tenant(entries, tenants, token=False), owner[0].lower()),
                "graph_requests_by_kind": breakdown(graph_requests(entries)),
                "cpu_seconds": cpu_used}
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        em.stop()
        if watch:
            watch.stop = True
        remove_namespace(kube, ns)


def mto_main(args, kube, workdir):
    n = args.mto
    conv, rest, mem = mto_converge(args, kube, args.binary, workdir)
    fl = None if "floor" in args.skip.split(",") else mto_floor(args, kube, workdir)
    ratio = round(conv["seconds"] / fl["seconds"], 2) if fl else None
    tok = conv["token_requests_per_tenant"]
    targets = {
        "rss_le_64_mib": mem["peak_rss_mib"] <= 64 and mem["rest_rss_mib"] <= 64,
        "api_writes_at_rest_0": rest["api_writes"] == 0,
        "share_429_le_1pct": conv["share_429"] <= 0.01,
        "one_token_request_per_tenant": conv["tenants_with_token_requests_not_1"] == 0
        and conv["token_requests_per_tenant_incl_rest"]["member_max"] == 1
        and conv["token_requests_per_tenant_incl_rest"]["owner"] == 1,
    }
    result = {
        "mode": "mto",
        "tenants": n,
        "concurrency": CONCURRENCY,
        "transition_poll_seconds": MTO_POLL,
        "emulator_time_scale": MTO_TIME_SCALE,
        f"mto_converge_{n}": conv,
        f"mto_floor_{n}": fl,
        "ratio_converge_to_floor": ratio,
        "at_rest": rest,
        "memory": {**mem, "binary_size_mib": round(os.path.getsize(args.binary) / 2**20, 1)},
        "targets_met": targets,
    }
    print(json.dumps(result, indent=2))

    def verdict(ok):
        return "PASS" if ok else "FAIL"

    g = conv["graph_requests_per_tenant"]
    rows = [
        (f"MTO of {n}: all Ready (s)", conv["seconds"], "p50/p99 %.2f/%.2f s, %d resources" % (
            conv["p50_seconds"], conv["p99_seconds"], sum(conv["resources"].values()))),
        ("floor (s)", fl and fl["seconds"], fl and "p50/p99 %.2f/%.2f s" % (fl["p50_seconds"], fl["p99_seconds"])),
        ("ratio operator/floor", ratio, ""),
        ("Graph requests / tenant", f"{g['owner']} / {g.get('member_median')}",
         f"owner / member median (members {g.get('member_min')}..{g.get('member_max')})"
         + (f"; floor {fl['graph_requests_per_tenant']['owner']} / {fl['graph_requests_per_tenant'].get('member_median')}" if fl else "")),
        ("token requests / tenant", f"{tok['owner']} / {tok.get('member_min')}..{tok.get('member_max')}",
         f"owner / members; target 1 per token lifetime: {verdict(targets['one_token_request_per_tenant'])}"),
        ("429 share", conv["share_429"], f"target <= 0.01: {verdict(targets['share_429_le_1pct'])}"),
        ("peak / rest RSS (MiB)", f"{mem['peak_rss_mib']} / {mem['rest_rss_mib']}",
         f"target <= 64: {verdict(targets['rss_le_64_mib'])}"),
        ("at rest: API writes", rest["api_writes"], f"in {rest['seconds']} s, target 0: {verdict(targets['api_writes_at_rest_0'])}"),
        ("at rest: Graph requests", f"{rest['graph_requests']} ({rest['graph_writes']} writes)", f"in {rest['seconds']} s"),
        ("partners", ", ".join(f"{v} {k}" for k, v in conv["partner_origins"].items()), "adopted from the joins?"),
    ]
    for name, value, note in rows:
        print(f"{name:30} {str(value):>16}  {note}", file=sys.stderr)
    for phase, figures in (("converge", conv), ("floor", fl)):
        if figures:
            spent = ", ".join(f"{k} {v}" for k, v in figures["cpu_seconds"].items())
            print(f"CPU seconds during {phase}: {spent}", file=sys.stderr)


CONCURRENCY = 8


def main():
    global CONCURRENCY
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True, help="the graph-org-operator binary")
    ap.add_argument("--emulator-binary", required=True, help="the graph-emulator binary")
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--kubectl", required=True)
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--rest", type=int, default=60)
    ap.add_argument("--timeout", type=int, default=1800)
    ap.add_argument("--budget", type=int, default=200)
    ap.add_argument("--throttle-n", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--skip", default="", help="comma-separated phases to skip: floor,throttled")
    ap.add_argument("--mto", type=int, default=0, metavar="N",
                    help="instead of the default phases: one multi-tenant organization of N tenants "
                         "(owner + N-1 members) converging from nothing, and its floor (--skip floor)")
    args = ap.parse_args()
    CONCURRENCY = args.concurrency
    skip = set(filter(None, args.skip.split(",")))
    kube = Kube(args.kubeconfig, args.kubectl)
    workdir = tempfile.mkdtemp(prefix="graphorg-bench-")
    log(f"logs in {workdir}")
    if args.mto:
        if not 2 <= args.mto <= 100:
            ap.error("--mto N: 2 <= N <= 100 (the MTO's tenant list and the emulator's active-tenant limit)")
        return mto_main(args, kube, workdir)
    conv, rest, mem, startup = converge(args, kube, args.binary, args.n, workdir)
    fl = None if "floor" in skip else floor(args, kube, args.n, workdir)
    fl_intent = None if "floor" in skip else floor(args, kube, args.n, workdir, intent=True)
    thr = None if "throttled" in skip else throttled(args, kube, args.binary, workdir)
    result = {
        "n": args.n,
        "concurrency": CONCURRENCY,
        f"converge_{args.n}": conv,
        f"floor_{args.n}": fl,
        "ratio_converge_to_floor": round(conv["seconds"] / fl["seconds"], 2) if fl else None,
        f"floor_intent_{args.n}": fl_intent,
        "ratio_converge_to_floor_intent": round(conv["seconds"] / fl_intent["seconds"], 2) if fl_intent else None,
        "at_rest": rest,
        "memory": {**mem, "binary_size_mib": round(os.path.getsize(args.binary) / 2**20, 1)},
        "startup_to_ready_seconds": startup,
        "throttled": thr,
    }
    print(json.dumps(result, indent=2))
    rows = [
        ("converge (s)", conv["seconds"], "p50/p99 %.2f/%.2f s" % (conv["p50_seconds"], conv["p99_seconds"])),
        ("floor (s)", fl and fl["seconds"], fl and "p50/p99 %.2f/%.2f s" % (fl["p50_seconds"], fl["p99_seconds"])),
        ("ratio converge/floor", result["ratio_converge_to_floor"], "target <= 1.25"),
        ("floor with intent (s)", fl_intent and fl_intent["seconds"], "intent patch + POST + id patch + status patch"),
        ("ratio converge/floor+intent", result["ratio_converge_to_floor_intent"], "the same durable work"),
        ("Graph creates / resource", conv["graph_creates_per_resource"], "target 1"),
        ("Graph requests / resource", conv["graph_requests_per_resource"], ""),
        ("API writes / resource", conv["api_writes_per_resource"], "target <= 3 (incl. Events)"),
        ("resource writes / resource", conv.get("resource_writes_per_resource"), "the intent, the id, the status"),
        ("at rest: Graph / API writes", f"{rest['graph_writes']} / {rest['api_writes']}", f"in {rest['seconds']} s, target 0"),
        ("peak / rest RSS (MiB)", f"{mem['peak_rss_mib']} / {mem['rest_rss_mib']}", f"{args.n} resources"),
        ("binary (MiB)", result["memory"]["binary_size_mib"], ""),
        ("start to ready (s)", startup, f"{args.n} existing resources"),
        ("throttle budget used", thr and thr["budget_used_fraction"], "target >= 0.90"),
        ("429 share", thr and thr["share_429"], "target <= 0.01"),
    ]
    for name, value, note in rows:
        print(f"{name:30} {str(value):>16}  {note}", file=sys.stderr)
    for phase, figures in (("converge", conv), ("floor", fl), ("floor with intent", fl_intent)):
        if figures:
            spent = ", ".join(f"{k} {v}" for k, v in figures["cpu_seconds"].items())
            print(f"CPU seconds during {phase}: {spent}", file=sys.stderr)


if __name__ == "__main__":
    main()
