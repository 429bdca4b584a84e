#!/usr/bin/env python3
"""Lint and render the Helm chart with the real Helm engine, without a cluster.

There is no helm binary here. The PyPI wheel helm-sdkpy bundles the Helm Go library
(Helm v4) and exposes its Lint and Install actions, but no `template` action, and
Install needs a Kubernetes API. So this script:

1. makes (once) a virtualenv with helm-sdkpy (`--venv`, reused afterwards);
2. for every values file `ci/<variant>-values.yaml` of the chart (JSON, which is
   also YAML, so that this script needs no YAML parser):
   - runs Helm's Install against a small in-process stand-in for the API server
     that serves discovery for the kinds the chart uses and records every object
     Helm creates (CRDs, then the release's objects, as JSON);
   - runs Helm's Lint on a copy of the chart whose values.yaml is the chart's
     defaults merged with the variant (Lint takes no values of its own);
   - writes `<out>/<variant>.yaml` (the release manifest, as `helm template`
     prints it), `<out>/<variant>.json` (the objects Helm sent, in order) and
     `<out>/<variant>.notes.txt` (the rendered NOTES.txt);
3. checks that values the schema must refuse are refused.

Any lint error (or warning), render error or unexpected success exits non-zero
with a message naming the variant. Used by `make chart-lint` and tests/chart.rs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

HELM_SDKPY = "helm-sdkpy==0.1.32"

# Values that values.schema.json must refuse: (what, values).
MUST_FAIL = [
    ("two watchNamespaces", {"watchNamespaces": ["a", "b"]}),
    ("a misspelt top-level key", {"replicas": 2}),
    ("zero replicas", {"replicaCount": 0}),
]

# What the stand-in API server serves: (group, version) -> [(resource, kind, namespaced)].
RESOURCES = {
    ("", "v1"): [
        ("configmaps", "ConfigMap", True),
        ("namespaces", "Namespace", False),
        ("secrets", "Secret", True),
        ("serviceaccounts", "ServiceAccount", True),
        ("services", "Service", True),
    ],
    ("apps", "v1"): [("deployments", "Deployment", True)],
    ("rbac.authorization.k8s.io", "v1"): [
        ("clusterrolebindings", "ClusterRoleBinding", False),
        ("clusterroles", "ClusterRole", False),
        ("rolebindings", "RoleBinding", True),
        ("roles", "Role", True),
    ],
    ("networking.k8s.io", "v1"): [("networkpolicies", "NetworkPolicy", True)],
    ("monitoring.coreos.com", "v1"): [("servicemonitors", "ServiceMonitor", True)],
    ("apiextensions.k8s.io", "v1"): [
        ("customresourcedefinitions", "CustomResourceDefinition", False)
    ],
}


def fail(message: str) -> None:
    print(f"chart-render: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def ensure_venv(venv: Path) -> None:
    """Re-runs this script inside `venv`, creating it and installing helm-sdkpy once."""
    python = venv / "bin" / "python"
    if Path(sys.prefix).resolve() == venv.resolve():
        return
    if python.exists():
        probe = subprocess.run(
            [str(python), "-c", "import helm_sdkpy"], capture_output=True, text=True
        )
        ready = probe.returncode == 0
    else:
        ready = False
    if not ready:
        if sys.version_info < (3, 11):
            fail(
                f"python {sys.version.split()[0]} is too old: helm-sdkpy needs Python 3.11 or newer"
            )
        print(f"chart-render: installing {HELM_SDKPY} into {venv} (once)", file=sys.stderr)
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [str(python), "-m", "pip", "install", "--quiet", "--ignore-requires-python", HELM_SDKPY],
        ]
        for step in steps:
            done = subprocess.run(step)
            if done.returncode != 0:
                fail(f"`{' '.join(step)}` exited with {done.returncode}: cannot get the Helm engine")
    os.execv(str(python), [str(python), os.path.abspath(__file__), *sys.argv[1:]])


class FakeApiServer:
    """Just enough of the Kubernetes API for Helm's Install: discovery, GET (404 or
    what was created), list, create. Everything Helm creates is recorded."""

    def __init__(self, namespace: str):
        self.namespace = namespace
        self.store: dict[str, dict] = {}
        self.created: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self, code: int, obj: dict) -> None:
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def body(self) -> bytes:
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def do_GET(self):
                code, obj = server.get(urlparse(self.path).path.rstrip("/"))
                self.answer(code, obj)

            def do_POST(self):
                code, obj = server.write(
                    "POST", urlparse(self.path).path.rstrip("/"), self.body(),
                    self.headers.get("Content-Type") or "",
                )
                self.answer(code, obj)

            def do_PUT(self):
                code, obj = server.write(
                    "PUT", urlparse(self.path).path.rstrip("/"), self.body(),
                    self.headers.get("Content-Type") or "",
                )
                self.answer(code, obj)

            def do_PATCH(self):
                self.answer(405, status(405, "MethodNotAllowed", "PATCH is not served"))

            def do_DELETE(self):
                self.answer(405, status(405, "MethodNotAllowed", "DELETE is not served"))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def get(self, path: str) -> tuple[int, dict]:
        if path == "/version":
            return 200, {"major": "1", "minor": "33", "gitVersion": "v1.33.0", "platform": "linux/amd64"}
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"],
                         "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}
        if path == "/apis":
            groups: dict[str, list[str]] = {}
            for group, version in RESOURCES:
                if group:
                    groups.setdefault(group, []).append(version)
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
                 "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]}}
                for g, vs in groups.items()]}
        parts = path.strip("/").split("/")
        gv = None
        if parts[0] == "api" and len(parts) == 2:
            gv = ("", parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            gv = (parts[1], parts[2])
        if gv is not None:
            if gv not in RESOURCES:
                return 404, status(404, "NotFound", f"{path} is not served")
            return 200, {"kind": "APIResourceList", "apiVersion": "v1",
                         "groupVersion": f"{gv[0]}/{gv[1]}" if gv[0] else gv[1],
                         "resources": [{"name": r, "singularName": k.lower(), "namespaced": ns, "kind": k,
                                        "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}
                                       for r, k, ns in RESOURCES[gv]]}
        if path in self.store:
            return 200, self.store[path]
        for (group, version), resources in RESOURCES.items():
            for resource, kind, _ in resources:
                if parts[-1] == resource:
                    items = [o for p, o in self.store.items() if p.rsplit("/", 1)[0] == path]
                    return 200, {"kind": f"{kind}List", "apiVersion": f"{group}/{version}" if group else version,
                                 "metadata": {"resourceVersion": "1"}, "items": items}
        return 404, status(404, "NotFound", f"{path} not found")

    def write(self, method: str, path: str, body: bytes, content_type: str) -> tuple[int, dict]:
        if "protobuf" in content_type:
            # Helm's release record (a Secret, sent as protobuf): acknowledged, not kept.
            match = re.search(rb"sh\.helm\.release\.v1\.[a-z0-9.-]+?\.v[0-9]+", body)
            if not match:
                return 400, status(400, "BadRequest", "unexpected protobuf body")
            secret = {"kind": "Secret", "apiVersion": "v1", "type": "helm.sh/release.v1",
                      "metadata": {"name": match.group(0).decode(), "namespace": self.namespace,
                                   "resourceVersion": "1", "uid": "release"}}
            return (201 if method == "POST" else 200), secret
        try:
            obj = json.loads(body)
            name = obj["metadata"]["name"]
        except (ValueError, KeyError, TypeError) as e:
            return 400, status(400, "BadRequest", f"unreadable object: {e}")
        key = f"{path}/{name}" if method == "POST" else path
        if method == "POST" and key in self.store:
            return 409, status(409, "AlreadyExists", f"{key} exists")
        self.created.append(json.loads(body))
        obj["metadata"].update({"uid": f"uid-{len(self.created)}", "resourceVersion": "1",
                                "creationTimestamp": "2024-01-01T00:00:00Z"})
        if obj.get("kind") == "CustomResourceDefinition":
            obj["status"] = {"acceptedNames": obj["spec"]["names"], "conditions": [
                {"type": "NamesAccepted", "status": "True"}, {"type": "Established", "status": "True"}]}
        self.store[key] = obj
        return (201 if method == "POST" else 200), obj


def status(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason,
            "message": message, "code": code}


def merge(base, override):
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for k, v in override.items():
            out[k] = merge(base.get(k), v) if k in base else v
        return out
    return override


def install(helm, chart: Path, release: str, namespace: str, values: dict):
    """Helm Install against a fresh stand-in server: (result, created objects)."""
    server = FakeApiServer(namespace)
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".kubeconfig", delete=False) as kc:
            kc.write(
                "apiVersion: v1\nkind: Config\n"
                f"clusters: [{{name: stand-in, cluster: {{server: '{server.url}'}}}}]\n"
                "users: [{name: stand-in, user: {token: stand-in}}]\n"
                f"contexts: [{{name: stand-in, context: {{cluster: stand-in, user: stand-in, namespace: {namespace}}}}}]\n"
                "current-context: stand-in\n"
            )
        try:
            config = helm.Configuration(namespace=namespace, kubeconfig=kc.name)
            result = asyncio.run(helm.Install(config).run(
                release, str(chart), values=values or None, wait=False, timeout=60))
        finally:
            os.unlink(kc.name)
        return result, server.created
    finally:
        server.close()


SEVERITY = {0: "UNKNOWN", 1: "INFO", 2: "WARNING", 3: "ERROR"}


def lint(helm, chart: Path) -> list[str]:
    """Helm Lint; returns the warnings and errors as lines (the library's error texts
    do not survive its JSON, so only severity and path are known)."""
    config = helm.Configuration(namespace="default")
    result = asyncio.run(helm.Lint(config).run(str(chart)))
    problems = []
    for m in result.get("Messages") or []:
        severity = m.get("Severity", 0)
        if severity >= 2:
            problems.append(f"{SEVERITY.get(severity, severity)} in {m.get('Path')}")
    if result.get("Errors") and not problems:
        problems.append(f"{len(result['Errors'])} lint error(s)")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chart", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--venv", type=Path, default=Path(os.environ.get(
        "MAPEK_HELM_VENV", Path.home() / ".cache/mapek-operator/helm-venv")))
    parser.add_argument("--release", default="mapek-operator")
    parser.add_argument("--namespace", default="mapek-system")
    args = parser.parse_args()
    ensure_venv(args.venv)

    import helm_sdkpy as helm  # noqa: E402 (only inside the venv)

    chart = args.chart.resolve()
    variants = sorted(chart.glob("ci/*-values.yaml"))
    if not variants:
        fail(f"no ci/*-values.yaml in {chart}")
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"chart-render: {helm.get_version()}, chart {chart}")

    for path in variants:
        name = path.name[: -len("-values.yaml")]
        try:
            values = json.loads(path.read_text())
        except ValueError as e:
            fail(f"{path}: not JSON (the ci values files are JSON, which is YAML too): {e}")
        try:
            result, created = install(helm, chart, args.release, args.namespace, values)
        except helm.HelmError as e:
            fail(f"variant {name}: Helm could not render the chart: {e}")
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / chart.name
            shutil.copytree(chart, copy)
            defaults = (result.get("chart") or {}).get("values")
            if defaults is None:
                fail(f"variant {name}: the Install result has no chart values to merge")
            (copy / "values.yaml").write_text(json.dumps(merge(defaults, values), indent=2))
            problems = lint(helm, copy)
        if problems:
            fail(f"variant {name}: helm lint: " + "; ".join(problems))
        objects = [o for o in created if o.get("kind") != "CustomResourceDefinition"]
        crds = [o for o in created if o.get("kind") == "CustomResourceDefinition"]
        (args.out / f"{name}.yaml").write_text(result.get("manifest", ""))
        (args.out / f"{name}.json").write_text(json.dumps(objects, indent=1) + "\n")
        (args.out / f"{name}.crds.json").write_text(json.dumps(crds, indent=1) + "\n")
        notes = (result.get("info") or {}).get("notes", "")
        (args.out / f"{name}.notes.txt").write_text(notes)
        kinds = ", ".join(sorted({o.get("kind", "?") for o in objects}))
        print(f"chart-render: {name}: lint ok, {len(objects)} objects ({kinds}), {len(crds)} CRDs")

    for what, values in MUST_FAIL:
        try:
            install(helm, chart, args.release, args.namespace, values)
        except helm.HelmError as e:
            reason = " ".join(str(e).split())
            print(f"chart-render: refused as it must be ({what}): {reason[-200:]}")
            continue
        fail(f"values with {what} were accepted: {json.dumps(values)}")
    print(f"chart-render: wrote {args.out}")


if __name__ == "__main__":
    main()
