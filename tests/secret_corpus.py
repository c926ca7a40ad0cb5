"""Planted secrets for the content scanner, and neutral text it must let through (tests and bench/secrets.py).

Every secret is made here at run time from parts and a seeded generator, so this file holds nothing that looks like
a live key (GitHub's push protection, and anyone reading, see only the parts). Each case is a small file as it
would be found in a project: (name, text). `OWN` is the server's own key the scanner is built with.
"""

from __future__ import annotations

import base64
import json
import random
import re
import string
from pathlib import Path

_rng = random.Random(17)
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"


def _r(alphabet: str, n: int) -> str:
    return "".join(_rng.choice(alphabet) for _ in range(n))


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _pem(label: str, lines: int = 6) -> str:
    body = "\n".join(_r(B64, 64) for _ in range(lines))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"


DASH5 = "-" * 5
OWN = "sk" + "-" + _r(HEX, 32)  # the server's own key, as DeepSeek issues them
RSA = _pem("RSA " + "PRIVATE KEY")
PKCS8 = _pem("PRIVATE " + "KEY")
DB_PASSWORD = "Tr0ub4dor&" + _r(ALNUM, 6)
AWS_SECRET = _r(B64, 40)

_own_b64 = [base64.b64encode(pad.encode() + OWN.encode()).decode() for pad in ("", "x", "xy")]

TOKENS: list[tuple[str, str]] = [
    ("aws.py", f"AWS_KEY_ID = '{'AK' + 'IA' + _r(string.ascii_uppercase + string.digits, 16)}'\n"),
    ("gh.sh", f"git clone https://x:{'gh' + 'p_' + _r(ALNUM, 36)}@github.com/o/r\n"),
    ("gh_fine.txt", f"{'github' + '_pat_' + _r(ALNUM, 22) + '_' + _r(ALNUM, 59)}\n"),
    ("gl.yml", f"variables:\n  GL: {'gl' + 'pat-' + _r(ALNUM, 20)}\n"),
    ("openai.ts", f'const client = new OpenAI("{"sk-" + "proj-" + _r(ALNUM, 48) + "T3Blbk" + _r(ALNUM, 20)}");\n'),
    ("anthropic.py", f"client = Anthropic('{'sk-' + 'ant-api03-' + _r(ALNUM + '-_', 93) + 'AA'}')\n"),
    ("deepseek.md", f"run with {'sk-' + _r(HEX, 32)} for now\n"),
    ("slack.js", f"const bot = '{'xo' + 'xb-' + _r(string.digits, 12) + '-' + _r(ALNUM, 24)}';\n"),
    ("hook.py", f"URL = 'https://{'hooks.' + 'slack.com'}/services/T{_r(ALNUM, 8)}/B{_r(ALNUM, 8)}/{_r(ALNUM, 24)}'\n"),
    ("maps.html", f'<script src="https://maps.example/api?key={"AI" + "za" + _r(ALNUM + "-_", 35)}"></script>\n'),
    ("stripe.rb", f"Stripe.api = '{'sk' + '_live_' + _r(ALNUM, 24)}'\n"),
    ("npm.txt", f"{'np' + 'm_' + _r(ALNUM, 36)}\n"),
    ("pypi.cfg", f"[pypi]\nusername = __token__\np = {'pypi-' + 'AgE' + _r(ALNUM, 60)}\n"),
    ("hf.ipynb", json.dumps({"cells": [{"source": ["login('" + "hf" + "_" + _r(ALNUM, 34) + "')"]}]}) + "\n"),
    ("twilio.java", f'String k = "{"SK" + _r(HEX, 32)}";\n'),
    ("sendgrid.go", f'k := "{"SG" + "." + _r(ALNUM, 22) + "." + _r(ALNUM, 43)}"\n'),
    ("shopify.py", f"SHOP = '{'shp' + 'at_' + _r(HEX, 32)}'\n"),
    ("do.tf", f'provider "digitalocean" {{ t = "{"dop" + "_v1_" + _r(HEX, 64)}" }}\n'),
    ("databricks.cfg", f"[DEFAULT]\nhost = https://x.cloud.databricks.com\nt = {'da' + 'pi' + _r(HEX, 32)}\n"),
    ("vault.sh", f"VAULT={'hv' + 's.' + _r(ALNUM, 90)}\n"),
    ("tfc.txt", f"{_r(ALNUM, 14) + '.atlas' + 'v1.' + _r(ALNUM, 67)}\n"),
    ("linear.ts", f'const l = "{"lin" + "_api_" + _r(ALNUM, 40)}";\n'),
    ("grafana.ini", f"[x]\nsa = {'gl' + 'sa_' + _r(ALNUM, 32) + '_' + _r(HEX, 8)}\n"),
    ("age.txt", f"# created: 2024\n{'AGE-' + 'SECRET-KEY-1' + _r('QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L', 58)}\n"),
    (
        "jwt.http",
        f"GET /x\nCookie: s={'ey' + 'J' + _r(ALNUM, 30)}.{'ey' + 'J' + _r(ALNUM, 60)}.{_r(ALNUM + '-_', 43)}\n",
    ),
    ("postman.json", f'{{"k": "{"PM" + "AK-" + _r(HEX, 24) + "-" + _r(HEX, 34)}"}}\n'),
    ("heroku.txt", f"{'HR' + 'KU-AA' + _r(ALNUM, 58)}\n"),
    ("alibaba.py", f"AK = '{'LT' + 'AI' + _r(ALNUM, 20)}'\n"),
    ("azure.cs", f'var s = "{_r(ALNUM, 3) + "8Q~" + _r(ALNUM, 34)}";\n'),
    ("telegram.py", f"BOT = '{_r(string.digits, 10)}:AA{_r(ALNUM, 33)}'\n"),
    ("gitlab_runner.toml", f'[[runners]]\n  t = "{"gl" + "rt-" + _r(ALNUM, 20)}"\n'),
]

PRIVATE_KEYS: list[tuple[str, str]] = [
    ("notes.txt", f"old key, delete me\n{RSA}"),
    ("deploy_key", _pem("OPENSSH " + "PRIVATE KEY")),
    ("ec.txt", _pem("EC " + "PRIVATE KEY", 3)),
    ("pkcs8.txt", PKCS8),
    ("enc.txt", _pem("ENCRYPTED " + "PRIVATE KEY")),
    ("pgp.asc.txt", _pem("PGP " + "PRIVATE KEY BLOCK")),
    ("putty.txt", "PuTTY-User-" + "Key-File-3: ssh-ed25519\nEncryption: none\n"),
    ("sa.json", json.dumps({"type": "x", "private_key": PKCS8, "client_email": "a@b.iam"}, indent=2)),
    ("values.yaml", "tls:\n  key: |\n" + "".join(f"    {line}\n" for line in RSA.splitlines())),
    (
        "kubeconfig",
        f"apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user:\n    client-certificate-data: "
        f"{_b64('cert')}\n    client-key-data: {_b64(RSA)}\n",
    ),
    (
        "tls-secret.yaml",
        f"apiVersion: v1\nkind: Secret\ntype: kubernetes.io/tls\nmetadata:\n  name: web\ndata:\n  tls.crt: "
        f"{_b64('-----BEGIN CERTIFICATE-----')}\n  tls.key: {_b64(PKCS8)}\n",
    ),
    ("app.env.example.txt", f"PRIVATE_KEY_B64={_b64(PKCS8)}\n"),
    ("bare_body.txt", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" + _r(B64, 60) + "\n"),
    ("hex_pem.txt", f"blob = {RSA.encode().hex()}\n"),
    ("escaped.js", "const key = " + json.dumps(RSA) + ";\n"),
]

ASSIGNMENTS: list[tuple[str, str]] = [
    ("settings.py", f'DATABASE = {{"NAME": "app", "PASSWORD": "{DB_PASSWORD}"}}\n'),
    ("env.production", f"DB_HOST=db.internal\nDB_PASSWORD={DB_PASSWORD}\n"),
    ("prod.env.bak", f"AWS_REGION=eu-west-1\nAWS_SECRET_ACCESS_KEY={AWS_SECRET}\n"),
    ("deploy.sh", f"export STRIPE_WEBHOOK_SECRET={_r(ALNUM, 32)}\n"),
    ("config.yml", f"service:\n  url: https://api.example\n  token: {_r(ALNUM, 40)}\n"),
    ("app.json", json.dumps({"apiKey": _r(ALNUM, 32), "region": "eu"}) + "\n"),
    (
        "storage.cs",
        f'var cs = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={_r(B64, 86)}==;EndpointSuffix=x";\n',
    ),
    ("npmrc.txt", f"//registry.example.org/:_authToken={_r(HEX, 8)}-{_r(HEX, 4)}-{_r(HEX, 4)}-{_r(HEX, 12)}\n"),
    (".yarnrc.yml", f'npmRegistryServer: "https://npm.example"\nnpmAuthToken: "{_r(ALNUM, 36)}"\n'),
    ("docker.json", json.dumps({"auths": {"registry.example": {"auth": _b64("ci:" + _r(ALNUM, 16))}}}, indent=2)),
    (".terraformrc", f'credentials "app.terraform.io" {{\n  token = "{_r(ALNUM, 30)}"\n}}\n'),
    ("rclone.conf", f'[drive]\ntype = drive\ntoken = {{"access_token":"{"ya" + "29." + _r(ALNUM, 60)}"}}\n'),
    ("rclone2.conf", f"[box]\ntype = sftp\nuser = me\npass = {_r(ALNUM + '-_', 40)}\n"),
    (
        ".claude.json",
        json.dumps(
            {"mcpServers": {"gh": {"command": "gh-mcp", "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": _r(ALNUM, 40)}}}}
        ),
    ),
    ("mcp.json", json.dumps({"servers": {"db": {"env": {"DB_PASSWORD": DB_PASSWORD}}}}, indent=2)),
    ("django_settings.py", f"SECRET_KEY = 'django-insecure-{_r(ALNUM + '!@#%^&*(-_=+)', 50)}'\n"),
    ("main.go", f'const apiKey = "{_r(ALNUM, 32)}"\n'),
    ("fish_history", f"- cmd: export AWS_SECRET_ACCESS_KEY={AWS_SECRET}\n  when: 1700000000\n"),
    ("server.xml", f"<config>\n  <password>{DB_PASSWORD}</password>\n</config>\n"),
    ("wp-config.php", f"define('DB_PASSWORD', '{DB_PASSWORD}');\n"),
    ("application.properties", f"spring.datasource.password={DB_PASSWORD}\n"),
    ("curl.sh", f"curl -H 'Authorization: Bearer {_r(ALNUM, 40)}' https://api.example/v1\n"),
    (".netrc.txt", f"machine api.example login me password {DB_PASSWORD}\n"),
    ("db.ini", f"[db]\nuser = app\npassword = {DB_PASSWORD}\n"),
    ("config.toml", f'[auth]\nclient_secret = "{_r(ALNUM, 40)}"\n'),
    ("Secret.yaml", f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  password: {_b64(DB_PASSWORD)}\n"),
    ("compose.yml", f"services:\n  db:\n    environment:\n      POSTGRES_PASSWORD: {DB_PASSWORD}\n"),
    ("ruby.rb", f"Client.new(api_key: '{_r(ALNUM, 32)}')\n"),
]

URLS: list[tuple[str, str]] = [
    ("database.py", f"URL = 'postgres://app:{DB_PASSWORD}@db.internal:5432/app'\n"),
    ("mysql.env.txt", f"DATABASE_URL=mysql://root:{_r(ALNUM, 16)}@127.0.0.1/x\n"),
    ("redis.conf.txt", f"url redis://:{_r(ALNUM, 24)}@cache:6379/0\n"),
    ("mongo.js", f"connect('mongodb+srv://svc:{_r(ALNUM, 20)}@cluster0.example.net/db')\n"),
    ("amqp.yaml", f"broker: amqp://guest:{_r(ALNUM, 12)}@mq//\n"),
    (".git-credentials.txt", f"https://me:{_r(ALNUM, 30)}@git.example.org\n"),
]

ENCODED: list[tuple[str, str]] = [
    ("own_plain.py", f"KEY = '{OWN}'\n"),
    ("own_b64_0.txt", f"{_own_b64[0]}\n"),
    ("own_b64_1.txt", f"data: {_own_b64[1]}\n"),
    ("own_b64_2.txt", f"x = '{_own_b64[2]}'\n"),
    ("own_hex.txt", f"{OWN.encode().hex()}\n"),
    ("own_split.py", f"KEY = ('{OWN[:14]}'\n       '{OWN[14:]}')\n"),
    ("own_plus.js", f'const k = "{OWN[:20]}" + "{OWN[20:]}";\n'),
    ("env_b64.txt", f"ENV_FILE={_b64('DB_USER=app' + chr(10) + 'DB_PASSWORD=' + DB_PASSWORD + chr(10))}\n"),
    ("hex_assignment.txt", f"{('password=' + DB_PASSWORD).encode().hex()}\n"),
    ("b64_url.txt", f"{_b64('postgres://app:' + DB_PASSWORD + '@db.internal/app')}\n"),
]

CATEGORIES: dict[str, list[tuple[str, str]]] = {
    "provider tokens": TOKENS,
    "private keys": PRIVATE_KEYS,
    "keyword assignments": ASSIGNMENTS,
    "URLs with credentials": URLS,
    "encoded and own keys": ENCODED,
}
CASES: list[tuple[str, str, str]] = [
    (category, name, text) for category, cases in CATEGORIES.items() for name, text in cases
]

# Ordinary code and data that must still be sent: hashes, UUIDs, commit ids, base64 test data, placeholders.
NEUTRAL = "\n".join(
    [
        "# Test vectors and fixtures",
        *(f"SHA256_{n} = '{_r(HEX, 64)}'" for n in range(5)),
        *(f"uuid_{n} = '{_r(HEX, 8)}-{_r(HEX, 4)}-4{_r(HEX, 3)}-a{_r(HEX, 3)}-{_r(HEX, 12)}'" for n in range(5)),
        *(f"commit {_r(HEX, 40)}" for n in range(5)),
        *(f"BLOB_{n} = '{base64.b64encode(_rng.randbytes(90)).decode()}'" for n in range(5)),
        f"integrity: sha512-{base64.b64encode(_rng.randbytes(64)).decode()}",
        f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{_r(B64, 43)} me@host",
        "-----BEGIN CERTIFICATE-----",
        "-----BEGIN PUBLIC KEY-----",
        "token = tokens[0]",
        "password = getpass.getpass('Password: ')",
        "secret = secrets.token_hex(16)",
        "API_KEY_ENV = 'DEEPSEEK_API_KEY'",
        "api_key = os.environ['OPENAI_API_KEY']",
        "password = os.environ.get('DB_PASSWORD')",
        "db_password: str | None = None",
        "token_url = 'https://oauth2.example.com/token'",
        "password_file = '/run/secrets/db_password'",
        "DATABASE_URL = 'postgres://user:password@localhost:5432/app'",
        "REDIS_URL = 'redis://:${REDIS_PASSWORD}@cache:6379'",
        "password = '${DB_PASSWORD}'",
        "api_key: '<your-api-key>'",
        "token: {{ .Values.token }}",
        "auth = HTTPBasicAuth(user, password)",
        "Use sk-learn-style-pipelines-everywhere and the AKIA prefix rule.",
        "headers = {'Authorization': f'Bearer {token}'}",
        "if token == 'EOF': break",
        "client_secret = settings.CLIENT_SECRET",
        "tokenizer = Tokenizer(vocab_size=32000)",
        "secret_name = 'prod/db/password'",
        "MAX_TOKENS = 4096",
        "author = 'Guido van Rossum'",
        "",
    ]
)


def _own_forms(key: str) -> dict[str, str]:
    return {
        "keys/own_b64.txt": f"cached: {_b64('x' + key)}\n",
        "keys/own_hex.txt": f"blob = '{key.encode().hex()}'\n",
        "keys/own_split.py": f"KEY = ('{key[:15]}'\n       '{key[15:]}')\n",
    }


# The folder: twelve secret-bearing files a walk sent, beside ordinary code that must still go.
FOLDER = {
    "deploy/admin.conf": dict(PRIVATE_KEYS)["kubeconfig"],  # kubeadm's name for a kubeconfig
    "k8s/tls-secret.yaml": dict(PRIVATE_KEYS)["tls-secret.yaml"],
    "env.production": f"DATABASE_URL=postgres://app:{DB_PASSWORD}@db.internal/app\n",
    "prod.env.bak": dict(ASSIGNMENTS)["prod.env.bak"],
    "fish_history": dict(ASSIGNMENTS)["fish_history"],
    "rclone.conf": dict(ASSIGNMENTS)["rclone2.conf"],
    ".yarnrc.yml": dict(ASSIGNMENTS)[".yarnrc.yml"],
    ".terraformrc": dict(ASSIGNMENTS)[".terraformrc"],
    "tools/docker/config.json": dict(ASSIGNMENTS)["docker.json"],
    "home-copy/.claude.json": dict(ASSIGNMENTS)[".claude.json"],
}
ORDINARY = {"app.py": "def main() -> int:\n    return 42\n", "fixtures.py": NEUTRAL}


def make_secret_folder(root: Path, own_key: str) -> dict[str, str]:
    """The folder under `root`/secrets: secret-bearing files and ordinary ones; returns every file's text by path."""
    files = {**FOLDER, **_own_forms(own_key), **ORDINARY}
    for name, text in files.items():
        path = root / "secrets" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return files


def secret_words(text: str) -> list[str]:
    """The parts of a secret file that must never leave: every run of 12 or more base64/word characters."""
    return [word for word in re.findall(r"[A-Za-z0-9+/_=-]{12,}", text) if word not in NEUTRAL]
