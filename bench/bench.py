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


def start_emulator(emulator_binary, workdir, extra=()):
    cfg = os.path.join(workdir, "emulator.yaml")
    with open(cfg, "w") as f:
        f.write(f"tenants:\n- id: {TENANT}\n  domains: [contoso.onmicrosoft.com]\n"
                f"apps:\n- clientId: {CLIENT_ID}\n  homeTenant: {TENANT}\n  secrets: [{{value: {SECRET}}}]\n"
                f"  roles:\n    {TENANT}: [Organization.ReadWrite.All, MultiTenantOrganization.ReadWrite.All]\n")
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

    def __init__(self, kube, ns, on_added=None):
        self.kube, self.ns = kube, ns
        self.on_added = on_added
        self.ready_at = {}
        self.changes = 0
        self.stop = False
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self):
        path = f"/apis/graphorg.io/v1alpha1/namespaces/{self.ns}/organizations?watch=1&allowWatchBookmarks=false"
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
        # Operator writes in this namespace: Organization changes after the user's create, and Events.
        "api_writes_per_resource": round((changes - n + events) / n, 2),
        "status_writes_per_resource": round((changes - n) / n, 2),
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


def floor(args, kube, n, workdir):
    log(f"phase floor_{n}: the same {n} creates by a minimal direct client (POST + status patch), concurrency {CONCURRENCY}")
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
        body = json.dumps({"displayName": name})
        c.request("POST", "/v1.0/organization", body=body,
                  headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        r = c.getresponse()
        org = json.loads(r.read())
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
    args = ap.parse_args()
    CONCURRENCY = args.concurrency
    skip = set(filter(None, args.skip.split(",")))
    kube = Kube(args.kubeconfig, args.kubectl)
    workdir = tempfile.mkdtemp(prefix="graphorg-bench-")
    log(f"logs in {workdir}")
    conv, rest, mem, startup = converge(args, kube, args.binary, args.n, workdir)
    fl = None if "floor" in skip else floor(args, kube, args.n, workdir)
    thr = None if "throttled" in skip else throttled(args, kube, args.binary, workdir)
    result = {
        "n": args.n,
        "concurrency": CONCURRENCY,
        f"converge_{args.n}": conv,
        f"floor_{args.n}": fl,
        "ratio_converge_to_floor": round(conv["seconds"] / fl["seconds"], 2) if fl else None,
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
        ("Graph creates / resource", conv["graph_creates_per_resource"], "target 1"),
        ("Graph requests / resource", conv["graph_requests_per_resource"], ""),
        ("API writes / resource", conv["api_writes_per_resource"], "target <= 3 (incl. Events)"),
        ("at rest: Graph / API writes", f"{rest['graph_writes']} / {rest['api_writes']}", f"in {rest['seconds']} s, target 0"),
        ("peak / rest RSS (MiB)", f"{mem['peak_rss_mib']} / {mem['rest_rss_mib']}", f"{args.n} resources"),
        ("binary (MiB)", result["memory"]["binary_size_mib"], ""),
        ("start to ready (s)", startup, f"{args.n} existing resources"),
        ("throttle budget used", thr and thr["budget_used_fraction"], "target >= 0.90"),
        ("429 share", thr and thr["share_429"], "target <= 0.01"),
    ]
    for name, value, note in rows:
        print(f"{name:30} {str(value):>16}  {note}", file=sys.stderr)
    for phase, figures in (("converge", conv), ("floor", fl)):
        if figures:
            spent = ", ".join(f"{k} {v}" for k, v in figures["cpu_seconds"].items())
            print(f"CPU seconds during {phase}: {spent}", file=sys.stderr)


if __name__ == "__main__":
    main()
