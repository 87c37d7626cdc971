"""Who may connect to whom under a set of rendered NetworkPolicies (ingress only, as the API defines it).

Used to check that the policies do what they say on the labels the workloads really carry: a selector
that matches nothing admits nothing, and no test of the YAML text alone would notice. ipBlock peers are
not evaluated (nothing here uses them): they never match.

Example::

    >>> ingress_allowed(policies, namespace="loyaltylens", target={"app.kubernetes.io/name": "postgres"},
    ...                 source={"app.kubernetes.io/component": "pipeline"}, port=5432)
    True
"""

from __future__ import annotations

from collections.abc import Iterable

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def selects(selector: dict | None, labels: dict) -> bool:
    """Whether a LabelSelector (matchLabels and matchExpressions) matches ``labels``; ``{}`` matches all."""
    selector = selector or {}
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        matched = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not matched:
            return False
    return True


def _restricts_ingress(policy: dict) -> bool:
    spec = policy.get("spec") or {}
    types = spec.get("policyTypes")
    return "Ingress" in types if types else True  # no policyTypes: Ingress is always implied


def _peer_admits(peer: dict, policy_namespace: str, source: dict, source_namespace: str, ns_labels: dict) -> bool:
    if "ipBlock" in peer:
        return False
    pod_selector, ns_selector = peer.get("podSelector"), peer.get("namespaceSelector")
    if ns_selector is None:  # podSelector alone: pods of the policy's own namespace
        return source_namespace == policy_namespace and selects(pod_selector, source)
    return selects(ns_selector, ns_labels) and selects(pod_selector, source)


def _port_admits(rule: dict, port: int | str | None, protocol: str) -> bool:
    ports = rule.get("ports")
    if not ports or port is None:  # a rule without ports admits every port; no port asked: any will do
        return True
    return any(p.get("protocol", "TCP") == protocol and ("port" not in p or p["port"] == port) for p in ports)


def ingress_allowed(
    policies: Iterable[dict],
    *,
    namespace: str,
    target: dict,
    source: dict,
    source_namespace: str | None = None,
    source_namespace_labels: dict | None = None,
    port: int | str | None = None,
    protocol: str = "TCP",
) -> bool:
    """Whether a pod labelled ``source`` (in ``source_namespace``, default the target's) may open a
    connection to a pod labelled ``target`` in ``namespace`` on ``port``. No policy selecting the target
    means allowed; otherwise one rule of a selecting policy must admit both the peer and the port."""
    source_namespace = source_namespace or namespace
    ns_labels = {NAMESPACE_NAME_LABEL: source_namespace, **(source_namespace_labels or {})}
    selecting = [
        p
        for p in policies
        if p.get("kind") == "NetworkPolicy"
        and (p.get("metadata") or {}).get("namespace", namespace) == namespace
        and _restricts_ingress(p)
        and selects((p.get("spec") or {}).get("podSelector"), target)
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in (policy.get("spec") or {}).get("ingress") or []:
            peers = rule.get("from")
            peer_ok = not peers or any(
                _peer_admits(peer, namespace, source, source_namespace, ns_labels) for peer in peers
            )
            if peer_ok and _port_admits(rule, port, protocol):
                return True
    return False
