"""A small project tree made on disk for the `files` tests: sources, ignored and vendored folders, secrets, binary."""

from __future__ import annotations

from pathlib import Path

# Recognisable, so a leak of either is found in whatever the fake received or the server wrote.
KEY_MATERIAL = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7-PRIVATE-MATERIAL-41c9"
ENV_SECRET = "hunter2-ENV-SECRET-77aa"
PRIVATE_KEY = f"-----BEGIN PRIVATE KEY-----\n{KEY_MATERIAL}\n-----END PRIVATE KEY-----\n"

APP = "def main() -> int:\n    return 42\n"
UTIL = (
    'def helper(name: str) -> str:\n    """Greet someone by name: the one place the greeting is spelled, so a change\n'
    "    of wording happens here and nowhere else, and every caller picks it up on the\n"
    '    next call without being touched. Long enough to fill a 64-token cache unit."""\n'
    '    return f"hello {name}"\n'
)

# Paths relative to the project, in the order they are sent.
SENT = [".gitignore", "src/app.py", "src/data/.gitignore", "src/data/keep.csv", "src/util.py"]
SKIPPED = {
    ".aws/": "a folder of keys or credentials",
    ".env": "named like a secret",
    "build/": "a vendored, generated or tool folder",
    "generated/": "gitignored",
    "certs/server.pem": "named like a secret",
    "debug.log": "gitignored",
    "env/": "a virtualenv",
    "logo.png": "binary (it holds NUL bytes)",
    "node_modules/": "a vendored, generated or tool folder",
    "notes/todo.txt": "it holds a private key (line 2)",
    "src/data/drop.csv": "gitignored",
    "src/legacy.py": "binary or not UTF-8 text",
}


def make_project(root: Path) -> Path:
    """The tree under `root`/project; returns the project folder."""
    project = root / "project"
    files = {
        ".gitignore": "generated/\n*.log\n",
        "src/app.py": APP,
        "src/util.py": UTIL,
        "src/data/.gitignore": "*.csv\n!keep.csv\n",  # nested, with a negation
        "src/data/keep.csv": "a,b\n1,2\n",
        "src/data/drop.csv": "x,y\n",
        "generated/models.py": "GENERATED = True\n",
        "build/lib/app.py": "BUILT = True\n",
        "debug.log": "noise\n",
        "node_modules/left-pad/index.js": "module.exports = () => {}\n",
        "env/pyvenv.cfg": "home = /usr/bin\n",  # a virtualenv under a name no list has
        "env/lib/site.py": "VENDORED = True\n",
        ".env": f"API_TOKEN={ENV_SECRET}\n",
        ".aws/config": f"[default]\nregion = eu-west-1\n# {ENV_SECRET}\n",  # a key folder, wherever it is
        "certs/server.pem": PRIVATE_KEY,
        "notes/todo.txt": f"remember to rotate this:\n{PRIVATE_KEY}",  # an innocent name, a key inside
    }
    for name, text in files.items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (project / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (project / "src/legacy.py").write_bytes(b"# caf\xe9 in Latin-1\n")
    return project
