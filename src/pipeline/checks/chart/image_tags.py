"""The image-tags rule: outside development every image is pinned (a tag other than `latest`, or a digest)."""

from __future__ import annotations

from pipeline.checks.chart.render import finding
from pipeline.checks.problem import Problem
from pipeline.model.kube import containers, rid, workloads


def check_image_tags(docs: list[dict], env: str) -> list[Problem]:
    """Outside development, every image is pinned (a tag other than `latest`, or a digest)."""
    if env == "development":
        return []
    problems = []
    for doc, template, base in workloads(docs):
        for container, path in containers(template.get("spec") or {}, base):
            image = str(container.get("image", ""))
            if "@sha256:" in image:
                continue
            name = image.rsplit("/", 1)[-1]
            tag = name.split(":", 1)[1] if ":" in name else ""
            if tag in ("", "latest"):
                problems.append(finding("image-tags", rid(doc), f"{path}.image",
                                        f"{image!r}: `latest` or no tag is allowed in development only"))
    return problems
