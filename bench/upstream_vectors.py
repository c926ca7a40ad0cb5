"""Builds tests/data/credential_vectors.json: the credential corpus, from the upstream rule sets' own test data.

    python bench/upstream_vectors.py BETTERLEAKS_CHECKOUT KINGFISHER_CHECKOUT

- betterleaks (MIT): config/betterleaks.toml for the rules; cmd/generate/config/rules/*.go for each rule's literal
  true and false positives (`tps`, `fps`). Where a rule's true positives are generated in Go, one is generated here
  instead, seeded by the rule's id, from the rule's own pattern (a sample that the upstream pattern matches and its
  entropy filter passes).
- kingfisher (Apache-2.0): data/rules/*.yml, each rule's `examples` and `negative_examples`.

Rules that find no secret (client ids, domains, host names, user names: kingfisher's hidden helper rules and the
like), betterleaks' generic-api-key (this project judges assignments itself) and kingfisher's low-confidence rules
are left out. Every text is stored base64-encoded, so that the file is not itself taken for a leak by scanners.
Run by hand when the upstream versions in mcp_server/policy/credentials.toml move; nothing here touches the
network.
"""

from __future__ import annotations

import base64
import json
import random
import re
import sre_constants as c  # the sampler walks sre's parse tree
import sre_parse
import sys
import tomllib
from collections import Counter
from math import log2
from pathlib import Path

import re2
import yaml

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "credential_vectors.json"
NOT_SECRETS = re.compile(r"client[-_.]?id|access[-_.]?id|user[-_.]?api[-_.]?id|domain|host|username|org[-_.]?name|"
                         r"application[-_.]?id|product[-_.]?id|reporter[-_.]?id|bot[-_.]?id|api[-_.]?id|\.url\.|"
                         r"instance[-_.]?url|jfrog[-_.]?url|search[-_.]?url|storage[-_.]?name|name\.1",
                         re.I)  # fmt: skip


def entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * log2(n / len(text)) for n in counts.values()) if text else 0.0


def _python_syntax(pattern: str) -> str:
    pattern = pattern.replace(r"\z", r"\Z")
    head = re.match(r"^\(\?[a-z]+\)", pattern)
    rest = pattern[head.end() if head else 0 :]
    pattern = (head.group() if head else "") + re.sub(r"\(\?[a-z]+\)", "", rest)
    classes = {"alnum": "A-Za-z0-9", "alpha": "A-Za-z", "digit": "0-9", "upper": "A-Z", "lower": "a-z",
               "xdigit": "0-9A-Fa-f", "word": r"\w", "space": r"\s"}  # fmt: skip
    return re.sub(r"\[:(\w+):\]", lambda m: classes.get(m.group(1), "a-z"), pattern)


_CATEGORY = {c.CATEGORY_DIGIT: "0123456789", c.CATEGORY_SPACE: " ", c.CATEGORY_NOT_DIGIT: "abcXYZ",
             c.CATEGORY_WORD: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_",
             c.CATEGORY_NOT_SPACE: "abcXYZ019", c.CATEGORY_NOT_WORD: " "}  # fmt: skip
_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _charset(items: list) -> list[str]:  # type: ignore[type-arg]
    negate, chars = False, []
    for op, arg in items:
        if op is c.NEGATE:
            negate = True
        elif op is c.LITERAL:
            chars.append(chr(arg))
        elif op is c.RANGE:
            chars.extend(chr(x) for x in range(arg[0], arg[1] + 1))
        elif op is c.CATEGORY:
            chars.extend(_CATEGORY.get(arg, "a"))
    if negate:
        return [ch for ch in _ALNUM if ch not in set(chars)] or [" "]
    return chars


def sample(pattern: str, rng: random.Random) -> str:
    """A random text that `pattern` matches: the least of each optional filler, a full-length secret."""
    out: list[str] = []

    def walk(items: list) -> None:  # type: ignore[type-arg]
        for op, arg in items:
            if op is c.LITERAL:
                out.append(chr(arg))
            elif op is c.NOT_LITERAL:
                out.append("y" if chr(arg) == "x" else "x")
            elif op is c.ANY:
                out.append(".")  # an unescaped dot stands for one in most patterns (hooks.slack.com)
            elif op is c.IN:
                out.append(rng.choice(_charset(arg)))
            elif op is c.CATEGORY:
                out.append(rng.choice(_CATEGORY.get(arg, "a")))
            elif op is c.SUBPATTERN:
                walk(list(arg[-1]))
            elif op is c.BRANCH:
                walk(list(rng.choice(arg[1])))
            elif op in (c.MAX_REPEAT, c.MIN_REPEAT):
                low, high, sub = arg
                high = low + 8 if high == c.MAXREPEAT else high
                count = rng.randint(low, min(high, low + 8)) if low >= 8 or high - low <= 2 else low
                for _ in range(count):
                    walk(list(sub))

    walk(list(sre_parse.parse(_python_syntax(pattern))))
    return "".join(out)


def _block(src: str, start: int) -> str:
    """The text inside the bracket at `start`, with Go string literals and comments skipped."""
    depth, at = 0, start
    while at < len(src):
        ch = src[at]
        if ch == "`":
            at = src.index("`", at + 1) + 1
            continue
        if ch == '"':
            at += 1
            while src[at] != '"':
                at += 2 if src[at] == "\\" else 1
            at += 1
            continue
        if src.startswith("//", at):
            at = src.index("\n", at)
            continue
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth == 0:
            return src[start + 1 : at]
        at += 1
    return ""


_LITERAL = re.compile(r'`([^`]*)`|"((?:\\.|[^"\\])*)"')
_ONLY_LITERALS = re.compile(r'^(?:`[^`]*`|"(?:\\.|[^"\\])*")(?:\s*\+\s*(?:`[^`]*`|"(?:\\.|[^"\\])*"))*$', re.S)


def go_literals(function: str, name: str) -> list[str]:
    """The plain string entries of `name := []string{...}` and `name = append(name, ...)` in a Go function."""
    found = []
    for m in re.finditer(name + r"\s*:?=\s*(\[\]string\{|append\(" + name + ",)", function):
        body = re.sub(r"//[^\n]*", "", _block(function, m.end() - 1))
        depth, item, items = 0, "", []
        for token in re.split(r'(`[^`]*`|"(?:\\.|[^"\\])*"|[()\[\]{},])', body):
            depth += token in ("(", "[", "{")
            depth -= token in (")", "]", "}")
            if token == "," and depth == 0:  # noqa: S105 (a Go token, not a password)
                items.append(item.strip())
                item = ""
            else:
                item += token
        items.append(item.strip())
        for entry in items:
            if _ONLY_LITERALS.match(entry):
                found.append("".join(a if a is not None else json.loads(f'"{b}"') for a, b in _LITERAL.findall(entry)))
    return found


def _functions(go_dir: Path) -> dict[str, str]:
    """Each Go rule function's text, by the rule id it declares."""
    found = {}
    for path in sorted(go_dir.glob("*.go")):
        for function in re.split(r"\nfunc ", path.read_text()):
            for rule_id in re.findall(r'RuleID:\s*"([^"]+)"', function):
                found[rule_id] = function
    return found


def betterleaks(root: Path) -> list[dict[str, object]]:
    config = tomllib.loads((root / "config" / "betterleaks.toml").read_text())
    functions = _functions(root / "cmd" / "generate" / "config" / "rules")
    vectors = []
    for rule in config["rules"]:
        rule_id = rule["id"]
        if "regex" not in rule or rule.get("skipReport") or rule_id == "generic-api-key" or NOT_SECRETS.search(rule_id):
            continue
        function = functions.get(re.sub(r"\.\d+$", "", rule_id), "")
        positive, negative = go_literals(function, "tps"), go_literals(function, "fps")
        floor = re.search(r'entropy\(finding\["secret"\]\)\s*<=?\s*([0-9.]+)', rule.get("filter", ""))
        upstream, rng, generated = re2.compile(rule["regex"]), random.Random(rule_id), []
        for _ in range(40):
            text = sample(rule["regex"], rng)
            m = upstream.search(text)
            secret = m and ((m.group(rule.get("secretGroup", 1)) if upstream.groups else None) or m.group())
            keyword = any(k.lower() in text.lower() for k in rule["keywords"])  # upstream runs a rule only then
            if secret and keyword and (floor is None or entropy(secret) > float(floor.group(1))):
                generated.append(text)
                break
        vectors.append({"rule": f"betterleaks:{rule_id}", "licence": "MIT", "positive": positive,
                        "generated": generated, "negative": negative})  # fmt: skip
    return vectors


def kingfisher(root: Path) -> list[dict[str, object]]:
    vectors = []
    for path in sorted((root / "data" / "rules").glob("*.yml")):
        for rule in (yaml.safe_load(path.read_text()) or {}).get("rules", []):
            hidden = rule.get("visible") is False or rule.get("confidence") == "low"
            if hidden or NOT_SECRETS.search(rule["name"].replace(" ", "-")):
                continue
            vectors.append({"rule": f"kingfisher:{rule['id']}", "licence": "Apache-2.0",
                            "positive": list(rule.get("examples") or []), "generated": [],
                            "negative": list(rule.get("negative_examples") or [])})  # fmt: skip
    return vectors


def main(better: Path, king: Path) -> None:
    vectors = betterleaks(better) + kingfisher(king)
    for vector in vectors:
        for key in ("positive", "generated", "negative"):
            vector[key] = [base64.b64encode(text.encode()).decode() for text in vector[key]]  # type: ignore[attr-defined]
    about = (
        "Credential test vectors, base64-encoded. betterleaks entries: each rule's literal true and false "
        "positives from cmd/generate/config/rules/*.go (MIT License, Copyright (c) 2019 Zachary Rice and the "
        "betterleaks authors), and `generated` ones made by bench/upstream_vectors.py from the rule's pattern. "
        "kingfisher entries: each rule's examples and negative_examples from data/rules/*.yml (Apache License "
        "2.0, Copyright MongoDB, Inc.; redistributed unmodified). Versions: see [upstream] in "
        "mcp_server/policy/credentials.toml."
    )
    OUT.write_text(json.dumps({"about": about, "vectors": vectors}, indent=0) + "\n")
    print(f"{len(vectors)} rules, {sum(len(v['positive']) + len(v['generated']) for v in vectors)} positives")  # type: ignore[arg-type]


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
