"""What a path's name alone says: folders never walked into, and files named like secrets or generated output.

Names only decide what is skipped before reading. Whether a file is text is decided by its bytes (read.py), and
whether it holds a key by its content (scan.py): a key under an innocent name is still caught there.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

# Version control: a folder, or in a git worktree or submodule a file pointing at one.
VCS = frozenset({".git", ".hg", ".svn", ".bzr", "_darcs", ".jj"})
# Vendored, generated or tool-owned trees: never walked into below a path given (naming one directly still works).
SKIPPED_DIRS = VCS | frozenset(
    {
        "node_modules", "bower_components", "jspm_packages", ".pnpm-store", ".yarn", "vendor", "Pods", "Carthage",
        "__pycache__", ".venv", "venv", ".tox", ".nox", ".eggs", "site-packages", ".mypy_cache", ".pytest_cache",
        ".ruff_cache", ".hypothesis", ".ipynb_checkpoints", "htmlcov", ".coverage_html",
        "build", "dist", "target", "out", "_build", ".next", ".nuxt", ".svelte-kit", ".parcel-cache", ".turbo",
        ".gradle", ".terraform", ".serverless", ".direnv", ".cache", ".idea", "coverage",
    }
)  # fmt: skip
VENV_MARKER = "pyvenv.cfg"  # a virtualenv under any name
# Among them, the installed dependencies a project's own commands run (a virtualenv under any name too): the only
# ones delegate's sandbox mounts from the user's folder. The others are tool state and build output (.idea's data
# sources, .terraform's state, .direnv's exported environment, .serverless' templates, .next's inlined env, the logs
# of .tox and .nox, which record the environment their commands ran in).
DEPENDENCY_DIRS = frozenset(
    {"node_modules", "bower_components", "jspm_packages", ".pnpm-store", ".yarn", "vendor", "Pods", "Carthage",
     ".venv", "venv", ".eggs", "site-packages"}
)  # fmt: skip

# Folders of keys and credentials, wherever they are (a copy of a home directory included).
SECRET_DIRS = frozenset({".ssh", ".gnupg", ".aws", ".azure", ".kube", ".docker", ".password-store", ".secrets"})
# The same below the home directory, and the places credentials live by path rather than by folder name.
HOME_SECRET_DIRS = (
    ".config/gcloud", ".config/gh", ".config/hub", ".config/op", ".config/doctl", ".local/share/keyrings",
    ".mozilla", ".config/google-chrome", ".config/chromium", ".thunderbird", ".terraform.d", ".cargo/credentials.toml",
    ".m2/settings.xml", ".gem/credentials", ".config/pip/pip.conf", ".config/rclone", ".config/github-copilot",
    ".local/share/fish", ".claude/.credentials.json", ".config/containers/auth.json", ".databrickscfg",
    "Library/Keychains", "Library/Cookies", "AppData/Roaming/Microsoft/Credentials",
)  # fmt: skip
# Browser and mail profiles among them: tens of thousands of files, gathered last (policy/places.py).
BROWSER_DIRS = (".mozilla", ".config/google-chrome", ".config/chromium", ".thunderbird", "Library/Cookies")
SYSTEM_SECRET_PATHS = (
    "/etc/shadow", "/etc/gshadow", "/etc/master.passwd", "/etc/ssh", "/etc/ssl/private", "/proc", "/sys", "/dev",
    "/run/secrets", "/var/run/secrets",  # Docker and Kubernetes mount their secrets here
)  # fmt: skip

_SECRET_FILES = frozenset(
    {
        ".npmrc", ".pypirc", ".netrc", "_netrc", ".git-credentials", ".dockercfg", ".htpasswd", "htpasswd", ".pgpass",
        ".my.cnf", ".s3cfg", ".boto", ".vault-token", "credentials", "secrets", "secret", "token", ".token",
        ".histfile", ".lesshst", ".viminfo", "authorized_keys", "known_hosts", "secrets.json", "secrets.yaml",
        "secrets.yml", "secrets.toml", "secrets.ini", "secrets.txt", "shadow", "gshadow", "rclone.conf", ".yarnrc",
        ".yarnrc.yml", ".terraformrc", "terraform.rc", ".claude.json", ".credentials.json", "auth.json",
        ".gitcookies", ".databrickscfg", "kubeconfig", ".kubeconfig", ".envrc", ".dockerconfigjson", "pgpass",
        "pgpass.conf",
    }
)  # fmt: skip
# Name patterns as suffixes and prefixes (str.endswith/startswith on a tuple run at C speed: `files: ["/"]` meets
# 50,000 names): *.env, *.pem, ... and .env.*, id_rsa*, ...; `_history` is every shell's and REPL's (fish_history).
_SECRET_SUFFIXES = (
    ".env", ".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".kdbx", ".kdb", ".ppk", ".age", ".keychain",
    ".keychain-db", ".tfstate", ".tfvars", ".ovpn", "-credentials", "_credentials", "_history", ".kubeconfig",
)  # fmt: skip
# ".env" covers .env.local, .envrc (direnv's exports), .env_prod ...; issue 11 says .env*, so .env.example too.
_SECRET_PREFIXES = (".env", "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "credentials.")
# A renamed env file (env.production, prod.env.bak, staging.env.local) holds `env` as one of its dotted parts; one
# whose last part is a language's (env.py, env.d.ts, env.sh) is code, sent and scanned like any.
_CODE_SUFFIXES = frozenset(
    {"py", "js", "mjs", "cjs", "ts", "tsx", "jsx", "go", "rs", "rb", "java", "kt", "c", "h", "cc", "cpp", "cs",
     "php", "swift", "sh", "bash", "zsh", "fish", "ps1", "md", "rst", "nix", "lua", "pl", "ex", "exs", "dart"}
)  # fmt: skip
# What editors and admins append to a copy: shadow-, id_rsa.bak, .env.orig, credentials~, config.json.save.
_BACKUP_ENDS = (".bak", ".backup", ".old", ".orig", ".save", ".swp", ".tmp", ".copy", ".dist", "~", "-")
# Generated text that costs tokens and says little: lock files and minified bundles (sent when named directly).
_GENERATED_FILES = frozenset(
    {
        "package-lock.json", "yarn.lock", "pnpm-lock.yaml", "npm-shrinkwrap.json", "bun.lockb", "poetry.lock",
        "uv.lock", "Pipfile.lock", "pdm.lock", "Cargo.lock", "composer.lock", "Gemfile.lock", "go.sum",
        "flake.lock", "packages.lock.json", "Podfile.lock", "mix.lock", ".DS_Store",
    }
)  # fmt: skip
_GENERATED_SUFFIXES = (".min.js", ".min.css", ".map", ".pyc", ".pyo")


def skipped_dir(name: str) -> bool:
    """Whether a folder of this name is vendored or generated, so a walk does not enter it."""
    return name in SKIPPED_DIRS or name.endswith(".egg-info")


def secret_name(name: str) -> bool:
    """Whether a file's name says it holds secrets (.env, *.pem, id_rsa, .npmrc, credentials.json, shadow-, ...)."""
    lowered = unbackup(name.lower())
    if lowered in _SECRET_FILES or lowered.endswith(_SECRET_SUFFIXES) or lowered.startswith(_SECRET_PREFIXES):
        return True
    if ".tfstate." in lowered:
        return True
    parts = lowered.split(".")
    if "env" in parts[:-1] or (parts[-1] == "env" and len(parts) > 1):
        return parts[-1] not in _CODE_SUFFIXES
    json = lowered.endswith(".json")
    return json and (lowered.startswith("service-account") or "credentials" in lowered)


# A file holding one bare password: Docker Compose's `secrets: db_password: file: ./db_password.txt`, root_passwd.
_PASSWORD_WORDS = ("password", "passwd")
_BARE_ENDS = ("", "txt", "secret", "pw", "pass")
# Folders of bare values, as Docker Compose and Kubernetes mount them (`secrets/db_password`, `secret/tls.key`).
_SECRET_FOLDERS = frozenset({"secrets", "secret"})


def bare_secret(folder: str, name: str) -> bool:
    """Whether a file's name and its folder's say it holds one bare value: `db_password.txt`, and a text file (or one
    without an extension) in a folder called `secrets`, as Docker Compose and Kubernetes mount them."""
    lowered = unbackup(name.lower())
    stem, dot, end = lowered.rpartition(".")
    if not dot:
        stem, end = lowered, ""
    if end not in _BARE_ENDS:
        return False
    if any(word in stem for word in _PASSWORD_WORDS) and stem != "passwd":  # /etc/passwd holds no password
        return True
    return secret_folder(folder)


def secret_folder(name: str) -> bool:
    """Whether a folder's name says it holds bare secrets (`secrets`, `secret`, and backups of them): a walk never
    enters one below the path it was given, whatever the files in it are called (code and config included)."""
    return unbackup(name.lower()) in _SECRET_FOLDERS


def withheld(parts: Sequence[str], top: str) -> str | None:
    """Why a path below a folder (its names from there; `top` is that folder's own name) is withheld by name alone,
    exactly as a walk of that folder judges it: a folder of secrets on the way, a file named like a secret or like a
    bare value in its folder; None when its names say nothing."""
    if any(secret_folder(part) for part in parts[:-1]):
        return "in a folder of secrets (not sent)"
    folder = parts[-2] if len(parts) > 1 else top
    if secret_name(parts[-1]) or bare_secret(folder, parts[-1]):
        return "named like a file of keys or credentials (not sent)"
    return None


# Windows' short (8.3) names of the version-control folders: `GIT~1` is `.git` there.
_SHORT_NAMES = {"git~1": ".git", "hg~1": ".hg", "svn~1": ".svn", "bzr~1": ".bzr", "jj~1": ".jj"}


def on_hosts(name: str) -> tuple[str, ...]:
    """The names a file written under `name` may take on the hosts a patch is applied on: lower case where the file
    system folds case (macOS, Windows: `.GIT` is `.git`), without the trailing dots and spaces Windows drops (`.env.`
    is `.env`), without the code points HFS+ ignores (`.g\\u200cit` is `.git`), and a version-control folder's
    short name on Windows (`GIT~1`). Judging a name written on a host judges each of them."""
    folded = name.lower()
    bare = folded.translate(_HFS_IGNORED) or folded
    trimmed = bare.rstrip(" .") or bare
    return tuple(dict.fromkeys((folded, bare, trimmed, _SHORT_NAMES.get(trimmed, trimmed))))


# Code points HFS+ leaves out when it compares names (`.e\u200cnv` opens `.env` on a Mac), as git's is_hfs_dotgit
# lists them: zero-width (non-)joiners, direction marks and embeddings, the deprecated format characters, the BOM.
_HFS_IGNORED = dict.fromkeys([0x200C, 0x200D, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x206A, 0x2070), 0xFEFF])


def unbackup(name: str) -> str:
    """A name without the endings a backup copy adds (`shadow-` is `shadow`, `id_rsa.bak.orig` is `id_rsa`)."""
    while name.endswith(_BACKUP_ENDS):
        stripped = name.removesuffix("~").removesuffix("-")
        if stripped == name:
            stripped = name.rpartition(".")[0]
        if not stripped:
            break
        name = stripped
    return name


def generated_name(name: str) -> bool:
    return name in _GENERATED_FILES or name.endswith(_GENERATED_SUFFIXES)


def home() -> Path | None:
    """The user's home directory, real path; None when it cannot be told."""
    try:
        return Path.home().resolve()
    except (OSError, RuntimeError, KeyError):
        return None
