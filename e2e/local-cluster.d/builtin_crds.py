#!/usr/bin/env python3
"""Built-in API groups as CustomResourceDefinitions, in their etcd-stored shape.

The standalone apiextensions-apiserver only serves CRDs, and CRD validation refuses
dot-less groups such as `apps`. Writing the CRD object straight into etcd bypasses
that validation, and the server then serves the group like any other CRD.

The server stores CRDs as `apiextensions.k8s.io/v1beta1` JSON, so the schema goes in
`spec.validation.openAPIV3Schema` and subresources/printer columns at the top of
`spec` (per-version fields would be ignored). The status carries the
`NamesAccepted` and `Established` conditions so the server serves it at once.

Usage: builtin_crds.py OUTDIR  -> writes OUTDIR/<crd-name>.json, one per CRD; the
etcd key is /registry/apiextensions.kubernetes.io/apiextensions.k8s.io/customresourcedefinitions/<crd-name>.
"""

import datetime
import json
import os
import sys
import uuid

# --- schema helpers -----------------------------------------------------------

S = {"type": "string"}
I32 = {"type": "integer", "format": "int32"}
I64 = {"type": "integer", "format": "int64"}
B = {"type": "boolean"}
TIME = {"type": "string", "format": "date-time"}
STR_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
ANY = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
INT_OR_STRING = {"x-kubernetes-int-or-string": True}


def obj(props=None, required=None, preserve=False, **extra):
    o = {"type": "object"}
    if props:
        o["properties"] = props
    if required:
        o["required"] = required
    if preserve:
        o["x-kubernetes-preserve-unknown-fields"] = True
    o.update(extra)
    return o


def arr(items, list_type=None, keys=None):
    a = {"type": "array", "items": items}
    if list_type:
        a["x-kubernetes-list-type"] = list_type
    if keys:
        a["x-kubernetes-list-map-keys"] = keys
    return a


LABEL_SELECTOR = obj(
    {
        "matchLabels": STR_MAP,
        "matchExpressions": arr(
            obj({"key": S, "operator": S, "values": arr(S, "atomic")}, ["key", "operator"]),
            "atomic",
        ),
    },
    **{"x-kubernetes-map-type": "atomic"},
)

OBJECT_META = obj(
    {
        "name": S,
        "namespace": S,
        "generateName": S,
        "labels": STR_MAP,
        "annotations": STR_MAP,
    },
    preserve=True,
)

ENV_VAR = obj(
    {"name": S, "value": S, "valueFrom": ANY},
    ["name"],
)

CONTAINER = obj(
    {
        "name": S,
        "image": S,
        "imagePullPolicy": S,
        "command": arr(S, "atomic"),
        "args": arr(S, "atomic"),
        "workingDir": S,
        "env": arr(ENV_VAR, "map", ["name"]),
        "envFrom": arr(ANY, "atomic"),
        "ports": arr(
            obj({"name": S, "containerPort": I32, "protocol": {"type": "string", "default": "TCP"},
                 "hostIP": S, "hostPort": I32}, ["containerPort"], preserve=True),
            "map",
            ["containerPort", "protocol"],
        ),
        "resources": obj(
            {
                "limits": {"type": "object", "additionalProperties": INT_OR_STRING},
                "requests": {"type": "object", "additionalProperties": INT_OR_STRING},
            },
            preserve=True,
        ),
        "volumeMounts": arr(ANY, "atomic"),
        "livenessProbe": ANY,
        "readinessProbe": ANY,
        "startupProbe": ANY,
        "securityContext": ANY,
    },
    ["name"],
    preserve=True,
)

POD_SPEC = obj(
    {
        "containers": arr(CONTAINER, "map", ["name"]),
        "initContainers": arr(CONTAINER, "map", ["name"]),
        "serviceAccountName": S,
        "restartPolicy": S,
        "terminationGracePeriodSeconds": I64,
        "nodeSelector": STR_MAP,
        "volumes": arr(ANY, "atomic"),
    },
    ["containers"],
    preserve=True,
)

CONDITION = obj(
    {
        "type": S,
        "status": S,
        "reason": S,
        "message": S,
        "lastUpdateTime": TIME,
        "lastTransitionTime": TIME,
        "observedGeneration": I64,
    },
    ["type", "status"],
)

DEPLOYMENT = obj(
    {
        "apiVersion": S,
        "kind": S,
        "metadata": {"type": "object"},
        "spec": obj(
            {
                "replicas": I32,
                "selector": LABEL_SELECTOR,
                "template": obj({"metadata": OBJECT_META, "spec": POD_SPEC}, preserve=True),
                "strategy": obj(
                    {
                        "type": S,
                        "rollingUpdate": obj({"maxSurge": INT_OR_STRING, "maxUnavailable": INT_OR_STRING}),
                    }
                ),
                "minReadySeconds": I32,
                "revisionHistoryLimit": I32,
                "paused": B,
                "progressDeadlineSeconds": I32,
            },
            ["selector", "template"],
            preserve=True,
        ),
        "status": obj(
            {
                "observedGeneration": I64,
                "replicas": I32,
                "updatedReplicas": I32,
                "readyReplicas": I32,
                "availableReplicas": I32,
                "unavailableReplicas": I32,
                "terminatingReplicas": I32,
                "collisionCount": I32,
                "conditions": arr(CONDITION, "map", ["type"]),
                # Not in the real Deployment status: the CRD scale subresource needs
                # a string selector for Scale.status.selector (labelSelectorPath).
                "selector": S,
            },
            preserve=True,
        ),
    }
)

OBJECT_REFERENCE = obj(
    {
        "apiVersion": S,
        "kind": S,
        "name": S,
        "namespace": S,
        "uid": S,
        "resourceVersion": S,
        "fieldPath": S,
    },
    **{"x-kubernetes-map-type": "atomic"},
)

EVENT = obj(
    {
        "apiVersion": S,
        "kind": S,
        "metadata": {"type": "object"},
        "eventTime": TIME,
        "series": obj({"count": I32, "lastObservedTime": TIME}, ["count", "lastObservedTime"]),
        "reportingController": S,
        "reportingInstance": S,
        "action": S,
        "reason": S,
        "regarding": OBJECT_REFERENCE,
        "related": OBJECT_REFERENCE,
        "note": S,
        "type": S,
        "deprecatedSource": obj({"component": S, "host": S}),
        "deprecatedFirstTimestamp": TIME,
        "deprecatedLastTimestamp": TIME,
        "deprecatedCount": I32,
    },
    ["eventTime"],
)

LEASE = obj(
    {
        "apiVersion": S,
        "kind": S,
        "metadata": {"type": "object"},
        "spec": obj(
            {
                "holderIdentity": S,
                "leaseDurationSeconds": I32,
                "acquireTime": TIME,
                "renewTime": TIME,
                "leaseTransitions": I32,
                "strategy": S,
                "preferredHolder": S,
            }
        ),
    }
)


def col(name, path, typ="string", priority=0, description=None):
    c = {"name": name, "type": typ, "JSONPath": path}
    if priority:
        c["priority"] = priority
    if description:
        c["description"] = description
    return c


AGE = col("Age", ".metadata.creationTimestamp", "date")


def crd(group, version, kind, plural, singular, short, schema, columns, subresources=None,
        categories=None):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    names = {
        "plural": plural,
        "singular": singular,
        "kind": kind,
        "listKind": kind + "List",
    }
    if short:
        names["shortNames"] = short
    if categories:
        names["categories"] = categories
    spec = {
        "group": group,
        "version": version,
        "names": names,
        "scope": "Namespaced",
        "validation": {"openAPIV3Schema": schema},
        "versions": [{"name": version, "served": True, "storage": True}],
        "additionalPrinterColumns": columns,
        "conversion": {"strategy": "None"},
        "preserveUnknownFields": False,
    }
    if subresources:
        spec["subresources"] = subresources

    def cond(t, reason, message):
        return {"type": t, "status": "True", "lastTransitionTime": now, "reason": reason,
                "message": message}

    return {
        "kind": "CustomResourceDefinition",
        "apiVersion": "apiextensions.k8s.io/v1beta1",
        "metadata": {
            "name": f"{plural}.{group}",
            "uid": str(uuid.uuid4()),
            "generation": 1,
            "creationTimestamp": now,
            "labels": {"mapek.io/local-cluster": "builtin"},
            "annotations": {
                "mapek.io/local-cluster": "built-in group served as a CRD, written straight into etcd",
                # Protected (*.k8s.io) groups need this or the CRD gets a False
                # KubernetesAPIApprovalPolicyConformant condition.
                "api-approved.kubernetes.io": "https://github.com/kubernetes/api",
            },
        },
        "spec": spec,
        "status": {
            "conditions": [
                cond("NamesAccepted", "NoConflicts", "no conflicts found"),
                cond("Established", "InitialNamesAccepted", "the initial names have been accepted"),
            ],
            "acceptedNames": names,
            "storedVersions": [version],
        },
    }


def builtin_crds():
    return [
        crd(
            "apps", "v1", "Deployment", "deployments", "deployment", ["deploy"], DEPLOYMENT,
            [
                col("Desired", ".spec.replicas", "integer"),
                col("Ready", ".status.readyReplicas", "integer"),
                col("Up-to-date", ".status.updatedReplicas", "integer"),
                col("Available", ".status.availableReplicas", "integer"),
                AGE,
                col("Containers", ".spec.template.spec.containers[*].name", priority=1),
                col("Images", ".spec.template.spec.containers[*].image", priority=1),
            ],
            subresources={
                "status": {},
                "scale": {
                    "specReplicasPath": ".spec.replicas",
                    "statusReplicasPath": ".status.replicas",
                    "labelSelectorPath": ".status.selector",
                },
            },
            categories=["all"],
        ),
        crd(
            "events.k8s.io", "v1", "Event", "events", "event", ["ev"], EVENT,
            [
                col("Type", ".type"),
                col("Reason", ".reason"),
                col("Object", ".regarding.name"),
                col("Note", ".note"),
                AGE,
            ],
        ),
        crd(
            "coordination.k8s.io", "v1", "Lease", "leases", "lease", None, LEASE,
            [col("Holder", ".spec.holderIdentity"), AGE],
        ),
    ]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for c in builtin_crds():
        with open(os.path.join(out, c["metadata"]["name"] + ".json"), "w") as f:
            json.dump(c, f, separators=(",", ":"))
            f.write("\n")


if __name__ == "__main__":
    main()
