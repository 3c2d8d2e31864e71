"""Summarise a pip-audit JSON report: fail on vulnerabilities, say plainly what was not checked.

Usage: ``python tools/pip_audit_report.py REPORT.json``. Exit status 1 when a
dependency has a known vulnerability; 0 otherwise, including when the
vulnerability data could not be reached (the summary then says so).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> int:
    """Print the summary; return the process exit status."""
    report = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    dependencies = report.get("dependencies", [])
    vulnerable = [item for item in dependencies if item.get("vulns")]
    skipped = [item for item in dependencies if item.get("skip_reason")]
    checked = len(dependencies) - len(skipped)
    for item in vulnerable:
        for vulnerability in item["vulns"]:
            fixes = ", ".join(vulnerability.get("fix_versions", [])) or "no fix yet"
            print(f"VULNERABLE {item['name']} {item['version']}: {vulnerability['id']} ({fixes})")
    if skipped and checked == 0:
        print(
            f"pip-audit: the vulnerability data could not be reached from this machine; "
            f"none of the {len(dependencies)} dependencies was checked. This is not a pass: "
            "run `nox -s audit` where PyPI's JSON API or OSV is reachable (CI does)."
        )
        return 0
    if skipped:
        names = ", ".join(sorted(item["name"] for item in skipped))
        print(f"pip-audit: {len(skipped)} dependencies could not be checked: {names}")
    print(
        f"pip-audit: {checked} dependencies checked, {len(vulnerable)} with known vulnerabilities"
    )
    return 1 if vulnerable else 0


if __name__ == "__main__":
    raise SystemExit(main())
