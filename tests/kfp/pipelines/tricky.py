"""tests/fixtures/kfp/tricky.ipynb written by hand with the KFP SDK: the same steps (Lightweight
Python components, named by the notebook's step names), parameters, values between steps (one
artifact per variable), metrics, limits, caching, retries, and with kfp-kubernetes the PVC mount,
secrets as environment variables, pod labels and annotations, image pull policy and deadline."""
from kfp import dsl, kubernetes
from kfp.dsl import Artifact, Input, Metrics, Output

IMAGE = "python:3.11"
PVC = dict(pvc_name="chard-data", mount_path="/mnt/data")



@dsl.component(base_image=IMAGE, install_kfp_package=False)
def make_base(ROUNDS: int, base: Output[Artifact]):
    import json
    with open(base.path, "w") as f:
        json.dump(list(range(ROUNDS * 4)), f)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def left(RATE: float, base: Input[Artifact], left: Output[Artifact], metrics: Output[Metrics]):
    import json
    import math
    with open(base.path) as f:
        values = json.load(f)
    value = math.fsum(v * RATE for v in values)
    with open(left.path, "w") as f:
        json.dump(value, f)
    metrics.log_metric("left", value)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def right(base: Input[Artifact], right: Output[Artifact]):
    import json
    import math
    with open(base.path) as f:
        values = json.load(f)
    with open(right.path, "w") as f:
        json.dump(math.fsum(v * v for v in values), f)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def combine(LABEL: str, VERBOSE: bool, left: Input[Artifact], right: Input[Artifact],
            metrics: Output[Metrics]):
    import json
    with open(left.path) as f:
        a = json.load(f)
    with open(right.path) as f:
        b = json.load(f)
    total = a + b
    print((LABEL + " " + str(total)) if VERBOSE else "")
    metrics.log_metric("total", total)


@dsl.pipeline(name="kfp-tricky",
              description="Parameters of every type, metrics, a PVC, several parents, limits, "
              "Kubernetes settings")
def pipeline(ROUNDS: int = 3, RATE: float = 0.5, LABEL: str = "run {{workflow.name}} 'q'",
             VERBOSE: bool = True):
    base = make_base(ROUNDS=ROUNDS)
    base.set_display_name("make_base")
    base.set_cpu_limit("500m").set_cpu_request("500m")
    base.set_memory_limit("256Mi").set_memory_request("256Mi")
    a = left(RATE=RATE, base=base.outputs["base"])
    a.set_display_name("left")
    b = right(base=base.outputs["base"])
    b.set_display_name("right")
    b.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(1)
    c = combine(LABEL=LABEL, VERBOSE=VERBOSE, left=a.outputs["left"], right=b.outputs["right"])
    c.set_display_name("combine")
    kubernetes.use_secret_as_env(a, secret_name="db-creds",
                                 secret_key_to_env={"password": "DB_PASSWORD", "user": "DB_USER"})
    kubernetes.add_pod_label(a, "team", "ml")
    kubernetes.add_pod_annotation(a, "chard.dev/note", "left side")
    for task in (base, a, b, c):
        task.set_caching_options(task is b)  # `cache:enabled` on right only
        task.set_retry(2)
        kubernetes.mount_pvc(task, **PVC)
        kubernetes.set_image_pull_policy(task, "IfNotPresent")
        kubernetes.set_timeout(task, 600)
