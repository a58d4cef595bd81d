#!/usr/bin/env python3
"""What each kind of request the operator makes costs the API server, in CPU milliseconds.

For each request kind, N Organizations are applied in a fresh namespace (not measured), then N
requests of that kind are made at concurrency 8 while kube-apiserver's and etcd's CPU time is
read from /proc. It says what a metadata write (a create's intent or id), a status write and an
Event cost, beside a GET.

  python3 bench/api_costs.py --kubeconfig "$(scripts/dev-cluster kubeconfig)" \\
      --kubectl "$(scripts/dev-cluster bin kubectl)" [-n 1000] [--repeat 2]
"""

import argparse
import concurrent.futures
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the Kube client, namespaces, CPU meter)


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def operator_status(name):
    """A status the size of the operator's after a create: three kstatus conditions and the id."""
    conditions = [{"type": t, "status": s, "reason": r, "message": m, "lastTransitionTime": now(), "observedGeneration": 1}
                  for t, s, r, m in [("Ready", "True", "Created", f"created organization for {name}"),
                                     ("Reconciling", "False", "Idle", ""), ("Stalled", "False", "NotStalled", "")]]
    return {"observedGeneration": 1, "conditions": conditions, "id": "8f7d9a1c-0000-4000-8000-000000000001",
            "createdDateTime": now(), "tenantType": "AAD", "verifiedDomains": ["contoso.onmicrosoft.com"]}


def request(kube, kind, ns, obj):
    name, rv, uid = obj["metadata"]["name"], obj["metadata"]["resourceVersion"], obj["metadata"]["uid"]
    org = f"/apis/graphorg.io/v1alpha1/namespaces/{ns}/organizations/{name}"
    if kind == "status apply":
        body = {"apiVersion": "graphorg.io/v1alpha1", "kind": "Organization", "metadata": {"resourceVersion": rv},
                "status": operator_status(name)}
        return kube.request("PATCH", f"{org}/status?fieldManager=costs&force=true", json.dumps(body),
                            "application/apply-patch+yaml")
    if kind == "status merge patch":
        body = {"metadata": {"resourceVersion": rv}, "status": operator_status(name)}
        return kube.request("PATCH", f"{org}/status", json.dumps(body), "application/merge-patch+json")
    if kind == "get":
        return kube.request("GET", org)
    if kind == "event":
        ev = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": f"{name}.{time.time_ns()}"},
              "eventTime": now().replace("Z", ".000000Z"), "reportingController": "costs", "reportingInstance": "costs-1",
              "action": "Create", "reason": "Created", "note": "created organization", "type": "Normal",
              "regarding": {"apiVersion": "graphorg.io/v1alpha1", "kind": "Organization", "name": name, "namespace": ns, "uid": uid}}
        return kube.request("POST", f"/apis/events.k8s.io/v1/namespaces/{ns}/events", json.dumps(ev))
    if kind == "metadata merge patch":
        # A create's intent, conditional on the version read, as the operator writes it.
        intent = json.dumps({"startedAt": now(), "preexistingIds": []})
        body = {"metadata": {"resourceVersion": rv, "annotations": {"graphorg.io/create-intent": intent}}}
        return kube.request("PATCH", f"{org}?fieldManager=costs", json.dumps(body), "application/merge-patch+json")
    raise ValueError(kind)


KINDS = ["status apply", "status merge patch", "metadata merge patch", "get", "event"]


def measure(kube, kind, n):
    ns = bench.new_namespace(kube, "costs")
    try:
        bench.apply_bulk(kube, ns, bench.org_docs(n, "o"))
        _, data = kube.request("GET", f"/apis/graphorg.io/v1alpha1/namespaces/{ns}/organizations")
        items = json.loads(data)["items"]
        cpu = bench.CpuMeter(bench.plane_pids(kube.kubeconfig))

        def one(obj):
            code, body = request(kube, kind, ns, obj)
            if code >= 300:
                raise RuntimeError(f"{kind}: {code} {body[:300]}")

        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(one, items))
        elapsed = time.monotonic() - t0
        used = cpu.done()
        return elapsed, used.get("kube-apiserver", 0.0), used.get("etcd", 0.0)
    finally:
        bench.remove_namespace(kube, ns)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--kubectl", required=True)
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    kube = bench.Kube(args.kubeconfig, args.kubectl)
    kube.run(["apply", "--server-side", "-f", os.path.join(os.path.dirname(__file__), "..", "crds")])
    rows = []
    total = len(KINDS) * args.repeat
    for i, kind in enumerate(k for k in KINDS for _ in range(args.repeat)):
        bench.log(f"step {i + 1}/{total}: {args.n} x {kind}")
        rows.append((kind, *measure(kube, kind, args.n)))
    print(f"{'request':<20} {'wall s':>7} {'apiserver ms/req':>17} {'etcd ms/req':>12}")
    for kind, wall, api, etcd in rows:
        print(f"{kind:<20} {wall:7.2f} {1000 * api / args.n:17.2f} {1000 * etcd / args.n:12.2f}")


if __name__ == "__main__":
    main()
