"""Checks that the Kubernetes manifests agree with the mtlsd config they ship and with the
container image: ports, probe paths, the config path, the image's uid and data dir.

Run by scripts/check-packaging with the venv that holds kubernetes-validate (PyYAML comes
with it). Usage: python check-consistency.py MANIFEST_DIR LAYOUT_ENV CONFIG_OUT
Writes the ConfigMap's mtlsd.toml to CONFIG_OUT (so that `mtlsd --check` can read it)."""

import pathlib
import sys
import tomllib

import yaml

manifests, layout_env, config_out = map(pathlib.Path, sys.argv[1:4])
docs = [d for f in sorted(manifests.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]
by_kind = {}
for d in docs:
    by_kind.setdefault(d["kind"], []).append(d)
layout = dict(
    line.split("=", 1) for line in layout_env.read_text().splitlines() if line and not line.startswith("#")
)
problems = []


def expect(what, got, want):
    if got != want:
        problems.append(f"{what}: {got!r}, expected {want!r}")


configmap = by_kind["ConfigMap"][0]
text = configmap["data"]["mtlsd.toml"]
config = tomllib.loads(text)
config_out.write_text(text)
port = lambda addr: int(addr.rsplit(":", 1)[1])

deployment = by_kind["Deployment"][0]
expect("replicas", deployment["spec"]["replicas"], 3)
pod = deployment["spec"]["template"]["spec"]
(container,) = pod["containers"]
ports = {p["name"]: p["containerPort"] for p in container["ports"]}
expect("gateway port", ports["gateway"], port(config["listener"][0]["listen"]))
expect("control port", ports["control"], port(config["control"]["listen"]))
expect("health port", ports["health"], port(config["health"]["listen"]))
expect("metrics port", ports["metrics"], port(config["metrics"]["listen"]))
for probe, path in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")]:
    expect(f"{probe} path", container[probe]["httpGet"]["path"], path)
    expect(f"{probe} port", container[probe]["httpGet"]["port"], "health")
for endpoint in ("health", "metrics", "control"):
    if config[endpoint]["listen"].startswith("127."):
        problems.append(f"[{endpoint}] listens on loopback: unreachable for the kubelet and Services")
expect("args", container["args"], ["--config", layout["MTLSD_CONFIG"]])
mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
expect("config mount", mounts["config"] + "/mtlsd.toml", layout["MTLSD_CONFIG"])
expect("data dir mount", mounts["pki"], layout["MTLSD_DATA_DIR"])
expect("config data_dir", config["data_dir"], layout["MTLSD_DATA_DIR"])
expect("runAsUser", pod["securityContext"]["runAsUser"], int(layout["MTLSD_UID"]))
expect("runAsGroup", pod["securityContext"]["runAsGroup"], int(layout["MTLSD_GID"]))
sc = container["securityContext"]
expect("readOnlyRootFilesystem", sc["readOnlyRootFilesystem"], True)
expect("allowPrivilegeEscalation", sc["allowPrivilegeEscalation"], False)
expect("capabilities.drop", sc["capabilities"]["drop"], ["ALL"])
env = {e["name"]: e for e in container["env"]}
expect("MTLS_REGISTRY source", "secretKeyRef" in env.get("MTLS_REGISTRY", {}).get("valueFrom", {}), True)
if pod["terminationGracePeriodSeconds"] <= int(config["shutdown"]["drain_timeout"].rstrip("s")):
    problems.append("terminationGracePeriodSeconds must exceed shutdown.drain_timeout")

labels = deployment["spec"]["template"]["metadata"]["labels"]
for svc in by_kind["Service"]:
    for p in svc["spec"]["ports"]:
        if p["targetPort"] not in ports:
            problems.append(f"Service {svc['metadata']['name']}: no container port {p['targetPort']}")
    if any(labels.get(k) != v for k, v in svc["spec"]["selector"].items()):
        problems.append(f"Service {svc['metadata']['name']} selects no gateway pod")
names = {s["metadata"]["name"] for s in by_kind["Service"]}
for needed in ("mtlsd-gateway", "mtlsd-control"):
    if needed not in names:
        problems.append(f"no Service {needed}")
(pdb,) = by_kind["PodDisruptionBudget"]
if any(labels.get(k) != v for k, v in pdb["spec"]["selector"]["matchLabels"].items()):
    problems.append("the PodDisruptionBudget selects no gateway pod")

if problems:
    sys.exit("packaging/kubernetes is inconsistent:\n  " + "\n  ".join(problems))
print(f"kubernetes: {len(docs)} resources agree with the config and the image layout")
