"""Write tests/durations.json, each test file's seconds, from a pytest JUnit XML report:
`python -m pytest ... --junitxml=run.xml`, then `python scripts/test_durations.py run.xml`.
tests/support/schedule.py starts the longest files first with it."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "durations.json"


def per_file(report: Path) -> dict[str, float]:
    seconds: dict[str, float] = defaultdict(float)
    for case in ET.parse(report).iter("testcase"):
        # classname is the dotted module (tests.e2e.test_x) or module.Class
        parts = case.get("classname", "").split(".")
        while parts and not parts[-1].startswith("test_"):
            parts.pop()
        if parts:
            seconds["/".join(parts) + ".py"] += float(case.get("time") or 0)
    return dict(seconds)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_file():
        print("error: give one JUnit XML report (pytest --junitxml=FILE)", file=sys.stderr)
        return 2
    try:
        seconds = per_file(Path(argv[0]))
    except ET.ParseError as exc:
        print(f"error: {argv[0]} is not XML: {exc}", file=sys.stderr)
        return 2
    OUT.write_text(json.dumps({k: round(v, 1) for k, v in sorted(seconds.items(), key=lambda kv: -kv[1])},
                              indent=1) + "\n")
    print(f"wrote {OUT}: {len(seconds)} files, {sum(seconds.values()):.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
