"""Parse Prometheus text on stdin with the official prometheus_client parser and print
every sample as a JSON line: {"name", "labels", "value"}. Exit 1 on a parse error."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

text = sys.stdin.read()
try:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            print(json.dumps({"family": family.name, "type": family.type,
                              "name": s.name, "labels": s.labels, "value": s.value}))
except Exception as e:  # the parser raises ValueError and friends
    print(f"parse error: {e}", file=sys.stderr)
    sys.exit(1)
