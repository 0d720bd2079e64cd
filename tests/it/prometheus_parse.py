"""Parses Prometheus text exposition (on stdin) with the official Python
client's parser, prometheus_client from PyPI, and prints what it found as
JSON: a list of families with their type and samples. Exits 2 when the
library is missing, 1 when the text does not parse."""

import json
import math
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    print("prometheus_client is not installed: python3 -m pip install --user prometheus_client",
          file=sys.stderr)
    sys.exit(2)


def number(value):
    # JSON has no NaN; a summary quantile without observations is NaN.
    return None if math.isnan(value) else value


def main():
    text = sys.stdin.read()
    try:
        families = [
            {
                "name": family.name,
                "type": family.type,
                "samples": [
                    {"name": s.name, "labels": s.labels, "value": number(s.value)}
                    for s in family.samples
                ],
            }
            for family in text_string_to_metric_families(text)
        ]
    except Exception as error:  # the parser raises ValueError and others
        print(f"the exposition does not parse: {error}", file=sys.stderr)
        sys.exit(1)
    json.dump(families, sys.stdout)


main()
