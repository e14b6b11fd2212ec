"""OPA bundles: a policy set as a ``.tar.gz`` that ``opa run --bundle`` and bundle services load.

The manifest carries the policy set's revision, so OPA reports the same
revision the embedded engine would, and decisions log which set decided.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile

from accessguard.policy.policyset import PolicySet


def roots(policy_set: PolicySet) -> list[str]:
    """The top-level paths the bundle owns: the first segment of each package and data key.

    Owning only these lets other sources (pushes, other bundles) use the rest of OPA's data tree.
    """
    owned = {package.split(".")[0].split("[")[0] for package in policy_set.packages.values() if package}
    return sorted(owned | set(policy_set.data))


def build_bundle(policy_set: PolicySet) -> bytes:
    """The bundle archive; the same policy set always gives the same bytes."""
    manifest = {"revision": policy_set.revision, "roots": roots(policy_set), "rego_version": 1}
    files = {".manifest": json.dumps(manifest, sort_keys=True)}
    if policy_set.data:
        files["data.json"] = policy_set.data_json
    files.update(policy_set.modules)
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as compressed, tarfile.open(fileobj=compressed, mode="w") as archive:
        for name, text in sorted(files.items()):
            content = text.encode()
            info = tarfile.TarInfo("/" + name)
            info.size, info.mode, info.mtime = len(content), 0o644, 0
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()
