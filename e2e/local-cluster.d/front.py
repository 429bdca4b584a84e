#!/usr/bin/env python3
"""Discovery front for the standalone apiextensions-apiserver (stdlib only).

The standalone server answers 404 to the root discovery documents that a full
cluster's aggregator serves, so kubectl cannot map kinds to resources. This front
listens on its own loopback HTTPS port and:

* answers `GET /api` (APIVersions), `GET /api/v1` (an empty APIResourceList) and
  `GET /apis` (an APIGroupList built from the live CRD list, so newly applied CRDs
  appear at once, plus apiextensions.k8s.io/v1);
* passes every other request through to the server with the client certificate,
  streaming: response bodies are forwarded as they arrive (watches, chunked lists).

Clients authenticate to the front with the same client certificate (the front asks
for one signed by the cluster CA); the front does not authorize on its own.
"""

import argparse
import hashlib
import http.client
import http.server
import json
import re
import socketserver
import ssl
import sys
import threading
import time

HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
    "trailers", "transfer-encoding", "upgrade", "content-length",
}

ARGS = None
UPSTREAM_CTX = None


def version_key(v):
    """Kubernetes version priority: GA > beta > alpha, then higher numbers first,
    then non-kube-like names alphabetically (k8s.io/apimachinery/pkg/version)."""
    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", v)
    if not m:
        return (3, 0, 0, v)
    major = int(m.group(1))
    level = {"alpha": 2, "beta": 1, None: 0}[m.group(2)]
    minor = int(m.group(3) or 0)
    return (level, -major, -minor, v)


def upstream_conn(timeout=None):
    host, port = ARGS.upstream_host, ARGS.upstream_port
    return http.client.HTTPSConnection(host, port, context=UPSTREAM_CTX, timeout=timeout)


def fetch_json(path):
    conn = upstream_conn(timeout=15)
    try:
        conn.request("GET", path, headers={"Accept": "application/json"})
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"GET {path}: {resp.status} {body[:200]!r}")
        return json.loads(body)
    finally:
        conn.close()


def established_crds():
    crds = fetch_json("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
    for item in crds.get("items", []):
        conds = {c.get("type"): c.get("status") for c in item.get("status", {}).get("conditions", [])}
        if conds.get("Established") == "True":
            yield item


def group_list():
    groups = {"apiextensions.k8s.io": {"v1"}}
    for item in established_crds():
        spec = item.get("spec", {})
        served = [v["name"] for v in spec.get("versions", []) if v.get("served")]
        if served:
            groups.setdefault(spec["group"], set()).update(served)
    out = []
    for name in sorted(groups):
        versions = sorted(groups[name], key=version_key)
        gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
        out.append({"name": name, "versions": gvs, "preferredVersion": gvs[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": out}


# --- OpenAPI v3 for CRDs --------------------------------------------------------
# The standalone server publishes OpenAPI v3 only for apiextensions.k8s.io: the CRD
# OpenAPI controllers are wired in kube-apiserver, not here. kubectl needs a
# document per group-version to see that PATCH accepts fieldValidation (else
# `kubectl apply` falls back to /openapi/v2, which does not exist, and fails); it
# also makes `kubectl explain` work. These documents are built from the live CRDs.

PATCH_PARAMS = [
    {"name": n, "in": "query", "schema": {"type": t}, "uniqueItems": True}
    for n, t in (("dryRun", "string"), ("fieldManager", "string"),
                 ("fieldValidation", "string"), ("force", "boolean"))
]
WRITE_PARAMS = PATCH_PARAMS[:3]
LIST_PARAMS = [
    {"name": n, "in": "query", "schema": {"type": t}, "uniqueItems": True}
    for n, t in (("labelSelector", "string"), ("fieldSelector", "string"),
                 ("resourceVersion", "string"), ("watch", "boolean"), ("limit", "integer"),
                 ("continue", "string"), ("timeoutSeconds", "integer"))
]


def schema_name(group, version, kind):
    rev = ".".join(reversed(group.split("."))) if group else "io.k8s.api.core"
    return f"{rev}.{version}.{kind}"


def crd_openapi_docs():
    """{"apis/<group>/<version>": OpenAPI v3 document} for every served CRD version."""
    docs = {}
    for item in established_crds():
        spec = item["spec"]
        group, names = spec["group"], spec["names"]
        kind, plural = names["kind"], names["plural"]
        namespaced = spec.get("scope") == "Namespaced"
        for ver in spec.get("versions", []):
            if not ver.get("served"):
                continue
            v = ver["name"]
            gvk = {"group": group, "version": v, "kind": kind}
            name = schema_name(group, v, kind)
            list_name = schema_name(group, v, names.get("listKind", kind + "List"))
            schema = json.loads(json.dumps((ver.get("schema") or {}).get("openAPIV3Schema")
                                           or {"type": "object", "x-kubernetes-preserve-unknown-fields": True}))
            props = schema.setdefault("properties", {})
            props.setdefault("apiVersion", {"type": "string"})
            props.setdefault("kind", {"type": "string"})
            props.setdefault("metadata", {"type": "object"})
            schema["x-kubernetes-group-version-kind"] = [gvk]
            ref = {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}}
            list_ref = {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{list_name}"}}}}

            def op(action, params=(), body=False, resp=ref, **extra):
                o = {"x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk,
                     "responses": {"200": {"description": "OK", **resp}}}
                if params:
                    o["parameters"] = list(params)
                if body:
                    o["requestBody"] = {"content": {"application/json": {"schema": {"type": "object"}}}}
                o.update(extra)
                return o

            base = f"/apis/{group}/{v}" + ("/namespaces/{namespace}" if namespaced else "")
            scope_params = [{"name": "namespace", "in": "path", "required": True,
                             "schema": {"type": "string"}}] if namespaced else []
            name_param = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
            paths = {
                f"{base}/{plural}": {
                    "parameters": scope_params,
                    "get": op("list", LIST_PARAMS, resp=list_ref),
                    "post": op("post", WRITE_PARAMS, body=True),
                    "delete": op("deletecollection"),
                },
                f"{base}/{plural}/{{name}}": {
                    "parameters": scope_params + [name_param],
                    "get": op("get"),
                    "put": op("put", WRITE_PARAMS, body=True),
                    "patch": op("patch", PATCH_PARAMS, body=True),
                    "delete": op("delete"),
                },
            }
            for sub in ("status", "scale"):
                if sub in (ver.get("subresources") or {}):
                    paths[f"{base}/{plural}/{{name}}/{sub}"] = {
                        "parameters": scope_params + [name_param],
                        "get": op("get"), "put": op("put", WRITE_PARAMS, body=True),
                        "patch": op("patch", PATCH_PARAMS, body=True),
                    }
            doc = docs.setdefault(f"apis/{group}/{v}", {
                "openapi": "3.0.0",
                "info": {"title": "Kubernetes CRD Swagger (mapek local-cluster front)", "version": "v0.1.0"},
                "paths": {}, "components": {"schemas": {}},
            })
            doc["paths"].update(paths)
            doc["components"]["schemas"][name] = schema
            doc["components"]["schemas"][list_name] = {
                "type": "object", "required": ["items"],
                "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                               "metadata": {"type": "object"},
                               "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{name}"}}},
                "x-kubernetes-group-version-kind": [dict(gvk, kind=names.get("listKind", kind + "List"))],
            }
    return docs


def doc_hash(doc):
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest().upper()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mapek-local-front"
    sys_version = ""

    def log_message(self, fmt, *args):
        if ARGS.verbose:
            sys.stderr.write("%s %s\n" % (time.strftime("%H:%M:%S"), fmt % args))

    # -- local documents -------------------------------------------------------
    def send_json(self, status, doc):
        body = json.dumps(doc, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def local_document(self):
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        if self.command not in ("GET", "HEAD"):
            return False
        if path == "/api":
            # No versions: there is no core/v1 group here, and advertising "v1" with
            # an empty resource list makes kubectl discovery fail ("received empty
            # response for: v1").
            self.send_json(200, {
                "kind": "APIVersions",
                "versions": [],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{ARGS.port}"}
                ],
            })
            return True
        if path == "/api/v1":
            self.send_json(200, {"kind": "APIResourceList", "apiVersion": "v1",
                                 "groupVersion": "v1", "resources": []})
            return True
        if path == "/openapi/v3":
            try:
                root = fetch_json("/openapi/v3")
                for gv, doc in crd_openapi_docs().items():
                    root.setdefault("paths", {}).setdefault(
                        gv, {"serverRelativeURL": f"/openapi/v3/{gv}?hash={doc_hash(doc)}"})
            except Exception as e:
                self.send_json(503, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                     "message": f"discovery front: {e}", "code": 503})
                return True
            self.send_json(200, root)
            return True
        if path.startswith("/openapi/v3/apis/"):
            gv = path[len("/openapi/v3/"):]
            try:
                doc = crd_openapi_docs().get(gv)
            except Exception:
                doc = None
            if doc is None:
                return False  # the server's own (apiextensions.k8s.io) or a 404
            self.send_json(200, doc)
            return True
        if path == "/apis":
            try:
                doc = group_list()
            except Exception as e:  # upstream down: answer like an apiserver would
                self.send_json(503, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                     "message": f"discovery front: {e}", "code": 503})
                return True
            self.send_json(200, doc)
            return True
        return False

    # -- pass-through ------------------------------------------------------------
    def read_request_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else None

    def proxy(self):
        if self.local_document():
            return
        body = self.read_request_body()
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP
                   and k.lower() not in ("host", "authorization")}
        if body is not None:
            headers["Content-Length"] = str(len(body))
        conn = upstream_conn()
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
        except Exception as e:
            conn.close()
            self.send_json(502, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                 "message": f"discovery front: upstream: {e}", "code": 502})
            return
        try:
            self.relay(resp)
        finally:
            conn.close()

    def relay(self, resp):
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_BY_HOP:
                self.send_header(k, v)
        no_body = self.command == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200
        length = resp.getheader("Content-Length")
        if no_body:
            if length is not None:
                self.send_header("Content-Length", length)
            self.end_headers()
            return
        if length is not None:
            self.send_header("Content-Length", length)
            self.end_headers()
            remaining = int(length)
            while remaining > 0:
                data = resp.read1(min(65536, remaining))
                if not data:
                    break
                self.wfile.write(data)
                remaining -= len(data)
            self.wfile.flush()
            return
        # Unknown length (chunked: lists, watches): re-chunk each piece as it arrives.
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        try:
            while True:
                data = resp.read1(65536)
                if not data:
                    break
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = proxy


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64
    tls = None

    def finish_request(self, request, client_address):
        # TLS handshake in the connection's own thread, so a slow client cannot
        # hold up accept().
        try:
            request = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            if ARGS.verbose:
                sys.stderr.write(f"front: TLS handshake from {client_address}: {e}\n")
            return
        self.RequestHandlerClass(request, client_address, self)

    def shutdown_request(self, request):
        try:
            request.shutdown(2)
        except OSError:
            pass
        request.close()


def main():
    global ARGS, UPSTREAM_CTX
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream", required=True, help="https://127.0.0.1:PORT of the apiserver")
    p.add_argument("--ca", required=True, help="cluster CA (verifies the server and clients)")
    p.add_argument("--cert", required=True, help="client certificate for the upstream")
    p.add_argument("--key", required=True)
    p.add_argument("--serving-cert", required=True)
    p.add_argument("--serving-key", required=True)
    p.add_argument("--verbose", action="store_true")
    ARGS = p.parse_args()
    m = re.fullmatch(r"https://([^:/]+):(\d+)/?", ARGS.upstream)
    if not m:
        p.error("--upstream must be https://HOST:PORT")
    ARGS.upstream_host, ARGS.upstream_port = m.group(1), int(m.group(2))

    UPSTREAM_CTX = ssl.create_default_context(cafile=ARGS.ca)
    UPSTREAM_CTX.load_cert_chain(ARGS.cert, ARGS.key)

    serving = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    serving.load_cert_chain(ARGS.serving_cert, ARGS.serving_key)
    serving.load_verify_locations(ARGS.ca)
    serving.verify_mode = ssl.CERT_REQUIRED
    serving.set_alpn_protocols(["http/1.1"])

    httpd = Server(("127.0.0.1", ARGS.port), Handler)
    httpd.tls = serving
    sys.stderr.write(f"front: listening on https://127.0.0.1:{ARGS.port}, upstream {ARGS.upstream}\n")
    sys.stderr.flush()
    threading.current_thread().name = "front"
    httpd.serve_forever()


if __name__ == "__main__":
    main()
