"""Render PrefectHQ's `prefect-worker` chart with this repository's Helm values, by Helm's own
engine (helm-python-sdk, which bundles it), check the values against the chart's schema, and
validate every object it makes strictly against the Kubernetes schemas 1.27-1.37.

Run it before moving the chart version pinned in deploy/kubernetes/worker-values.yaml:

    make check-chart                       # downloads the pinned chart from the Helm repo
    make check-chart CHART=path/to/prefect-worker-<version>.tgz

It needs the chart: the Helm repository (prefecthq.github.io) is not a package registry, so
CI, which reaches only those, cannot run it.
"""

from __future__ import annotations

import re
import sys
import tempfile
import urllib.request
from pathlib import Path

import helm_python
import kubernetes_validate
import yaml

KUBERNETES = Path(__file__).resolve().parent.parent / "deploy" / "kubernetes"
REPOSITORY = "https://prefecthq.github.io/prefect-helm/charts"
MINORS = range(27, 38)


def pinned_version(values_text: str) -> str:
    found = re.search(r"prefect/prefect-worker --version (\S+)", values_text)
    if not found:
        sys.exit("error: worker-values.yaml pins no chart version (`--version` in its header)")
    return found.group(1)


def main() -> None:
    values_text = (KUBERNETES / "worker-values.yaml").read_text()
    version = pinned_version(values_text)
    if len(sys.argv) > 1:
        chart_path = Path(sys.argv[1])
    else:
        chart_path = Path(tempfile.mkdtemp()) / f"prefect-worker-{version}.tgz"
        url = f"{REPOSITORY}/prefect-worker-{version}.tgz"
        print(f"downloading {url}")
        urllib.request.urlretrieve(url, chart_path)
    chart = helm_python.Chart.load(str(chart_path))
    if chart.version != version:
        sys.exit(f"error: {chart_path} is chart {chart.version}; the values pin {version}")
    values = yaml.safe_load(values_text)
    template = (KUBERNETES / "base-job-template.json").read_text()
    values["worker"]["config"]["baseJobTemplate"]["configuration"] = template
    chart.validate_schema(chart.merge_values(values))
    rendered = chart.render(values, name="elt-worker", namespace="elt", is_install=True)
    count = 0
    for path, text in sorted(rendered.items()):
        for document in yaml.safe_load_all(text):
            if not isinstance(document, dict):
                continue  # NOTES.txt
            for minor in MINORS:
                kubernetes_validate.validate(document, f"1.{minor}", strict=True)
            count += 1
            print(f"valid  {document['kind']} {document['metadata']['name']}  ({path})")
    print(f"prefect-worker {version}: {count} objects, strictly valid on Kubernetes 1.27-1.37")


if __name__ == "__main__":
    main()
