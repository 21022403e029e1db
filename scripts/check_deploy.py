#!/usr/bin/env python3
"""check_deploy.py: the deploy artefacts' checks that need more than a tool's own validator
(run by scripts/test-deploy.sh, with the venv's Python, which has PyYAML).

  metrics --rules FILE --dashboard FILE SRC_DIR...
      every metric an alert rule or a dashboard panel names is one the Rust sources register
      (a string literal "weir_..." in SRC_DIR; a histogram's _bucket/_sum/_count count too), and
      every label they match or group by is one of those metrics' registered labels (or job,
      instance, le). Registrations, not a scrape: a label-vector family appears in /metrics only
      once it has a series (store fallbacks only after Redis failed), so a scrape would wrongly
      call it missing.
  kubernetes --gateway-bin BIN RENDERED.yaml...
      what the schemas cannot see: each ServiceMonitor against the fields of its CRD that Weir
      uses (unknown fields refused) and its selector and port against a Service of the same
      render; the gateway's probes, ports and drain timing against its ConfigMap's gateway.toml
      (which `weir-gateway --check` must accept); the PodDisruptionBudget's selector; every
      ConfigMap and Secret a pod mounts exists; every container has resource requests and runs
      as non-root.

Exits 1 with one line per problem.
"""

import json
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import yaml

PROBLEMS = []


def problem(text):
    PROBLEMS.append(text)


# ------------------------------------------------------------------------------------ metrics

METRIC = re.compile(r'"(weir_[a-z0-9_]+)"')
LABELS = re.compile(r'&\[\s*((?:"[a-z_]+"\s*,?\s*)+)\]')
TARGET_LABELS = {"job", "instance", "le", "__name__"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def registered(src_dirs):
    """name -> set of label names, from the registrations in the Rust sources."""
    found = {}
    for src in src_dirs:
        for path in Path(src).rglob("*.rs"):
            text = path.read_text()
            for match in METRIC.finditer(text):
                name = match.group(1)
                labels = found.setdefault(name, set())
                # The label list follows the name (and its help text) in the same call.
                window = text[match.end() : match.end() + 400]
                nxt = METRIC.search(window)
                if nxt:
                    window = window[: nxt.start()]
                lab = LABELS.search(window)
                if lab:
                    labels.update(re.findall(r'"([a-z_]+)"', lab.group(1)))
    return found


def base_name(name, known):
    if name in known:
        return name
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in known:
            return name[: -len(suffix)]
    return None


def labels_in(expr):
    """Label names an expression matches on or groups by."""
    names = set()
    for body in re.findall(r"\{([^{}]*)\}", expr):
        names.update(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", body))
    for body in re.findall(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", expr):
        names.update(n.strip() for n in body.split(",") if n.strip())
    return names


def check_exprs(where, exprs, known):
    used = 0
    for label, expr in exprs:
        # Template variables and Grafana's macros are not label names.
        plain = re.sub(r"\$\{?[a-zA-Z_]+\}?", "x", expr)
        metrics = set(re.findall(r"\bweir_[a-z0-9_]+\b", plain))
        if not metrics:
            problem(f"{where}: {label}: names no Weir metric: {expr}")
        allowed = set(TARGET_LABELS)
        for name in sorted(metrics):
            base = base_name(name, known)
            if base is None:
                problem(f"{where}: {label}: {name} is not a metric Weir registers")
                continue
            used += 1
            allowed |= known[base]
        for name in sorted(labels_in(plain) - allowed):
            problem(f"{where}: {label}: label {name!r} is not one of {sorted(allowed)}")
    return used


def cmd_metrics(args):
    rules_path, dashboard_path, src_dirs = args["--rules"], args["--dashboard"], args["rest"]
    known = registered(src_dirs)
    if len(known) < 20:
        problem(f"only {len(known)} metrics found in {src_dirs}: wrong source directories?")
    rules = yaml.safe_load(Path(rules_path).read_text())
    exprs = [
        (rule.get("alert") or rule.get("record"), rule["expr"])
        for group in rules["groups"]
        for rule in group["rules"]
    ]
    alerts = check_exprs(rules_path, exprs, known)
    dashboard = json.loads(Path(dashboard_path).read_text())
    targets = [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]
    for var in dashboard.get("templating", {}).get("list", []):
        query = var.get("query")
        if isinstance(query, dict) and "weir_" in query.get("query", ""):
            targets.append((f"variable {var['name']}", query["query"]))
    panels = check_exprs(dashboard_path, targets, known)
    print(
        f"check_deploy.py metrics: {len(exprs)} rules and {len(targets)} dashboard queries name "
        f"{alerts + panels} registered metrics ({len(known)} registered)"
    )


# --------------------------------------------------------------------------------- kubernetes

# The ServiceMonitor fields Weir's manifests use (monitoring.coreos.com/v1); anything else is
# refused, so a typo cannot pass as an unknown field.
SERVICE_MONITOR = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "ServiceMonitor",
    "metadata": {"name": str, "namespace": str, "labels": dict},
    "spec": {
        "selector": {"matchLabels": dict},
        "endpoints": [
            {
                "port": str,
                "path": str,
                "interval": str,
                "authorization": {"type": str, "credentials": {"name": str, "key": str}},
            }
        ],
    },
}


def shape(where, value, schema):
    if isinstance(schema, str):
        if value != schema:
            problem(f"{where}: {value!r}, expected {schema!r}")
    elif isinstance(schema, type):
        if not isinstance(value, schema):
            problem(f"{where}: {value!r} is not a {schema.__name__}")
    elif isinstance(schema, list):
        if not isinstance(value, list) or not value:
            problem(f"{where}: expected a non-empty list")
            return
        for i, item in enumerate(value):
            shape(f"{where}[{i}]", item, schema[0])
    else:
        if not isinstance(value, dict):
            problem(f"{where}: expected a mapping")
            return
        for key in value:
            if key not in schema:
                problem(f"{where}: unknown field {key!r}")
        for key, sub in schema.items():
            if key in value:
                shape(f"{where}.{key}", value[key], sub)


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def duration_seconds(text):
    match = re.fullmatch(r"(\d+)(ms|s|m)", text)
    if not match:
        raise ValueError(f"duration {text!r}")
    n, unit = int(match.group(1)), match.group(2)
    return {"ms": n / 1000, "s": n, "m": n * 60}[unit]


def check_gateway(where, deployment, objects, gateway_bin):
    spec = deployment["spec"]["template"]["spec"]
    container = spec["containers"][0]
    mounts = {m["name"]: m for m in container.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    config_map = volumes.get("config", {}).get("configMap", {}).get("name")
    data = objects.get(("ConfigMap", config_map), {}).get("data", {})
    if "gateway.toml" not in data:
        problem(f"{where}: no ConfigMap {config_map!r} with gateway.toml")
        return
    text = data["gateway.toml"]
    with tempfile.NamedTemporaryFile("w", suffix=".toml") as f:
        f.write(text)
        f.flush()
        run = subprocess.run([gateway_bin, "--config", f.name, "--check"], capture_output=True, text=True)
        if run.returncode != 0:
            problem(f"{where}: weir-gateway --check refuses its gateway.toml: {run.stderr.strip()}")
    config = tomllib.loads(text)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    admin_port = int(config["admin"]["listen"].rsplit(":", 1)[1])
    http_port = int(config["listen"]["http"].rsplit(":", 1)[1])
    if ports.get("admin") != admin_port or ports.get("http") != http_port:
        problem(f"{where}: container ports {ports} differ from gateway.toml (http {http_port}, admin {admin_port})")
    for probe, path in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")]:
        get = container.get(probe, {}).get("httpGet", {})
        if get.get("path") != path or get.get("port") not in ("admin", admin_port):
            problem(f"{where}: {probe} must GET {path} on the admin port, has {get}")
    grace = duration_seconds(config.get("gateway", {}).get("shutdown_grace", "5s"))
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    if pre_stop < 1:
        problem(f"{where}: no preStop sleep: the pod would drain before it left the endpoints")
    period = spec.get("terminationGracePeriodSeconds", 30)
    if period < pre_stop + grace + 5:
        problem(
            f"{where}: terminationGracePeriodSeconds {period} < preStop {pre_stop} + shutdown_grace "
            f"{grace} + 5: Kubernetes would SIGKILL a draining gateway"
        )
    token = config.get("control_plane", {}).get("token_file")
    if token and not any(token.startswith(m["mountPath"].rstrip("/") + "/") for m in mounts.values()):
        problem(f"{where}: control_plane.token_file {token} is on no mounted volume")
    pdbs = [o for (kind, _), o in objects.items() if kind == "PodDisruptionBudget"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    if not any(selects(p["spec"]["selector"]["matchLabels"], labels) for p in pdbs):
        problem(f"{where}: no PodDisruptionBudget selects the gateway pods")


def check_pod(where, pod_spec, objects):
    for volume in pod_spec.get("volumes", []):
        for kind, key, name_key in [("ConfigMap", "configMap", "name"), ("Secret", "secret", "secretName")]:
            if key in volume and (kind, volume[key][name_key]) not in objects:
                problem(f"{where}: volume {volume['name']} names a {kind} {volume[key][name_key]!r} not in the render")
    security = pod_spec.get("securityContext", {})
    for container in pod_spec["containers"]:
        requests = container.get("resources", {}).get("requests", {})
        if "cpu" not in requests or "memory" not in requests:
            problem(f"{where}: container {container['name']} has no cpu and memory requests")
        ctx = {**security, **container.get("securityContext", {})}
        if not ctx.get("runAsNonRoot") or ctx.get("allowPrivilegeEscalation", True):
            problem(f"{where}: container {container['name']} may run as root or escalate")


def cmd_kubernetes(args):
    gateway_bin = args["--gateway-bin"]
    for rendered in args["rest"]:
        docs = [d for d in yaml.safe_load_all(Path(rendered).read_text()) if d]
        objects = {(d["kind"], d["metadata"]["name"]): d for d in docs}
        kinds = {kind for kind, _ in objects}
        for needed in ["Deployment", "StatefulSet", "PodDisruptionBudget", "ServiceMonitor", "ConfigMap", "Secret"]:
            if needed not in kinds:
                problem(f"{rendered}: no {needed}")
        services = [d for d in docs if d["kind"] == "Service"]
        for (kind, name), obj in objects.items():
            where = f"{rendered}: {kind}/{name}"
            if kind == "ServiceMonitor":
                shape(where, obj, SERVICE_MONITOR)
                selector = obj["spec"]["selector"]["matchLabels"]
                matching = [s for s in services if selects(selector, s["metadata"].get("labels", {}))]
                if not matching:
                    problem(f"{where}: its selector {selector} matches no Service")
                for endpoint in obj["spec"]["endpoints"]:
                    if not any(p.get("name") == endpoint["port"] for s in matching for p in s["spec"]["ports"]):
                        problem(f"{where}: port {endpoint['port']!r} is on no Service it selects")
                    creds = endpoint.get("authorization", {}).get("credentials")
                    if creds and ("Secret", creds["name"]) not in objects:
                        problem(f"{where}: credentials Secret {creds['name']!r} not in the render")
            if kind in ("Deployment", "StatefulSet"):
                check_pod(where, obj["spec"]["template"]["spec"], objects)
            if kind == "Deployment" and name == "weir-gateway":
                check_gateway(where, obj, objects, gateway_bin)
        print(f"check_deploy.py kubernetes: {rendered}: {len(docs)} objects checked")


def main(argv):
    if len(argv) < 2 or argv[1] not in ("metrics", "kubernetes"):
        print(__doc__, file=sys.stderr)
        return 2
    args, rest, it = {}, [], iter(argv[2:])
    for arg in it:
        if arg.startswith("--"):
            args[arg] = next(it)
        else:
            rest.append(arg)
    args["rest"] = rest
    {"metrics": cmd_metrics, "kubernetes": cmd_kubernetes}[argv[1]](args)
    for line in PROBLEMS:
        print(f"check_deploy.py: {line}", file=sys.stderr)
    return 1 if PROBLEMS else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
