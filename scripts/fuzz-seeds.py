#!/usr/bin/env python3
"""Seeds with deep and huge structures for the fuzz targets: byte-level mutation rarely
builds deep trees, so each target starts from inputs thousands of levels deep (and the
grammar-aware promql_grammar target builds its own). Writes into fuzz/corpus/<target>/.
Usage: python3 scripts/fuzz-seeds.py [FUZZ_DIR]"""
import os
import sys

fuzz = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "fuzz")


def wrap(open_, inner, close, n):
    return open_ * n + inner + close * n


promql = {
    "sums": wrap("sum(", "up", ")", 2000),
    "terms": "1" + "+1" * 20000,
    "unary": "-" * 5000 + "up",
    "calls": wrap("abs(", "up", ")", 3000),
    "parens": wrap("(", "up", ")", 5000),
    "subqueries": wrap("max_over_time(", "up", "[5m:1m])", 2000),
    "label_replace": wrap("label_replace(", "up", ', "a", "$1", "job", "(.*)")', 1000),
    "or_chain": "up" + " or up" * 5000,
    "pow_chain": "up" + "^up" * 5000,
    "mixed": wrap("sum by (job) (rate((", "up", ")[5m:1m])) + 1", 500),
    "at_limit": wrap("sum(", "up", ")", 250),
}
yaml = {
    "flow_seq": "scrape_configs: " + "[" * 50000 + "]" * 50000 + "\n",
    "flow_map": "global: " + "{a: " * 20000 + "}" * 20000 + "\n",
    "block": "".join(" " * (2 * i) + "k:\n" for i in range(1000)),
    "bomb": "alerting:\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(f"  a{i}: &a{i} [{', '.join(['*a%d' % (i - 1)] * 10)}]\n" for i in range(1, 10)),
    "deep_rule": "groups:\n  - name: g\n    rules:\n      - record: a:b\n        expr: '"
    + promql["sums"]
    + "'\n",
    "huge_scalar": "global:\n  scrape_interval: '" + "9" * (1 << 20) + "'\n",
}
json = {
    "deep_array": "[" * 100000 + "]" * 100000,
    "deep_object": '{"a":' * 50000 + "1" + "}" * 50000,
    "deep_labels": '[{"targets": ["a:1"], "labels": ' + '{"a":' * 5000 + '"x"' + "}" * 5000 + "}]",
    "huge_target": '[{"targets": ["' + "h" * (1 << 20) + '"]}]',
}
exposition = {
    "many_labels": "m{" + ",".join(f'l{i}=""' for i in range(100000)) + "} 1\n",
    "huge_value": 'm{a="' + "v" * (1 << 20) + '"} 1\n',
    "long_name": "n" * (1 << 20) + " 1\n",
    "deep_braces": "m" + "{" * 100000 + "\n",
    "long_number": "m 1 " + "9" * (1 << 20) + "\n",
}
selector = {
    "many_matchers": "{" + ",".join(f'a{i}="b"' for i in range(20000)) + "}",
    "deep_braces": "{" * 50000,
    "deep_regex": 'up{a=~"' + "(" * 1000 + "a" + ")" * 1000 + '"}',
}

targets = {
    "promql": promql,
    "config": yaml,
    "report_inputs": {k: v.replace("scrape_configs:", "roles:") for k, v in yaml.items()},
    "sd_file": {**json, **yaml},
    "exposition_text": exposition,
    "exposition_openmetrics": {k: v + "# EOF\n" for k, v in exposition.items()},
    "selector": selector,
}
for target, seeds in targets.items():
    d = os.path.join(fuzz, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, text in seeds.items():
        with open(os.path.join(d, "deep-" + name), "w") as f:
            f.write(text)
    print(f"{target}: {len(seeds)} deep seeds in {d}")

# block_index: an even first byte patches the target's own valid index (no patch: the
# whole read path on a good file); a few patches into its footer and symbol table.
d = os.path.join(fuzz, "corpus", "block_index")
os.makedirs(d, exist_ok=True)
for name, data in {
    "valid": b"\x00",
    "footer": b"\x00" + b"".join(bytes([i, 0, 0xFF]) for i in range(8, 64, 5)),
    "early": b"\x02" + b"".join(bytes([i, 0, 0x01]) for i in range(8, 200, 3)),
}.items():
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)
print(f"block_index: 3 seeds in {d}")
