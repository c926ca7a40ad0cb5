"""What a secret looks like, as data: one line per kind, each naming what it finds.

The provider rules are adapted from gitleaks' default rule set (config/gitleaks.toml, github.com/gitleaks/gitleaks,
MIT License, Copyright (c) 2019 Zachary Rice): the ones for keys people actually paste into projects, with a
distinctive prefix, so a match is a key and not a coincidence. Rules that need judgement (an assignment to a
secret-ish name, a URL with a password, an Authorization header) capture the value, and scan.py decides whether it
is a secret (not a placeholder, a variable, a type, an environment variable's name...). detect-secrets' ideas kept:
keyword assignments, basic-auth URLs, and entropy only where a secret-ish name says the value is one; its entropy
over every string was left out (3% of the standard library flagged).

Every pattern is a fixed literal or a bounded repeat: they run in re2 (linear time, on bytes) as one alternation.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcp_server.policy.encodings import encoded_forms


@dataclass(frozen=True)
class Rule:
    kind: str  # what the finding is called in a reason: "it holds {kind} (line N)"
    keywords: tuple[bytes, ...]  # literals one of which every match holds: the pattern runs only where one occurs
    pattern: bytes  # re2 syntax; in a judged rule, group 1 is the value judged
    check: str = ""  # "", or what scan.py judges: "digit", "assignment", "url", "header", "k8s"
    nocase: bool = False  # keywords found in any case


_END = rb"(?:[^A-Za-z0-9_]|\z)"  # a token ends where word characters end (re2 has no lookahead)

# Keys with a distinctive prefix (gitleaks ids in comments where the pattern comes from there).
TOKENS: tuple[Rule, ...] = (
    Rule("a private key", (b"-----BEGIN",), rb"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----"),  # private-key
    Rule("a private key", (b"PuTTY-User-Key-File-",), rb"PuTTY-User-Key-File-[0-9]"),
    # The bodies of private keys without their armour: DER of PKCS#1 RSA, PKCS#8, SEC1 EC, Ed25519, OpenSSH.
    Rule(
        "a private key",
        (b"IBAAKCA", b"IBADANBgkqhkiG9w0BAQEFAAS", b"MHcCAQEEI", b"MC4CAQAwBQYDK2VwBCIEI", b"b3BlbnNzaC1rZXktdjE"),
        rb"IBAAKCA[QgI]EA|IBADANBgkqhkiG9w0BAQEFAAS|MHcCAQEEI|MC4CAQAwBQYDK2VwBCIEI|b3BlbnNzaC1rZXktdjE",
    ),
    # A PEM private key base64-encoded (a kubeconfig's client-key-data, a Secret's tls.key), at any alignment.
    Rule(
        "a private key (base64-encoded)",
        _PEM_B64 := tuple(sorted(encoded_forms(b"PRIVATE KEY-----"))),
        b"|".join(_PEM_B64),
    ),
    Rule("an age secret key", (b"AGE-SECRET-KEY-1",), rb"AGE-SECRET-KEY-1[0-9A-Z]{58}"),  # age-secret-key
    Rule(
        "an AWS access key",
        (b"A3T", b"AKIA", b"ASIA", b"ABIA", b"ACCA"),
        rb"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}" + _END,
    ),  # aws-access-token
    Rule(
        "a GitHub token", (b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_"), rb"\bgh[pousr]_[A-Za-z0-9]{36,}" + _END
    ),  # github-pat, -oauth, -app-token
    Rule("a GitHub token", (b"github_pat_",), rb"\bgithub_pat_[A-Za-z0-9_]{22,}"),  # github-fine-grained-pat
    Rule(
        "a GitLab token",
        (b"glpat-", b"glptt-", b"glrt-", b"gldt-", b"glft-", b"glcbt-", b"gloas-", b"glsoat-", b"glimt-", b"GR1348941"),
        rb"\bgl(?:pat|ptt|rt|dt|ft|cbt|oas|soat|imt)-[A-Za-z0-9_-]{20,64}|GR1348941[A-Za-z0-9_-]{20}",
    ),
    # DeepSeek's keys are sk- and 32 hex digits; OpenAI's and Anthropic's add a prefix. The value must hold a digit
    # (judged in scan.py), so prose such as "sk-learn-style-pipelines-everywhere" is not taken for a key.
    Rule(
        "an OpenAI, DeepSeek or Anthropic key",
        (b"sk-",),
        rb"\bsk-(?:proj-|ant-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",
        "digit",
    ),
    Rule(
        "a Slack token", (b"xox", b"xapp-"), rb"\bxox[abposre]-[A-Za-z0-9-]{10,}|\bxapp-[0-9]-[A-Za-z0-9-]{10,}"
    ),  # slack-*
    Rule(
        "a Slack webhook",
        (b"hooks.slack.com/",),
        rb"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{20,60}",
    ),
    Rule("a Google API key", (b"AIza",), rb"\bAIza[0-9A-Za-z_-]{35}"),  # gcp-api-key
    Rule("a Google OAuth token", (b"ya29.", b"1//0"), rb"\bya29\.[0-9A-Za-z_-]{30,}|\b1//0[0-9A-Za-z_-]{30,}"),
    Rule("a Google service-account key", (b"service_account",), rb"\"type\"\s{0,8}:\s{0,8}\"service_account\""),
    Rule(
        "a Stripe key", (b"_live_", b"_test_", b"_prod_"), rb"\b(?:sk|rk)_(?:live|test|prod)_[0-9A-Za-z]{10,}"
    ),  # stripe-access-token
    Rule("an npm token", (b"npm_",), rb"\bnpm_[A-Za-z0-9]{36}" + _END),  # npm-access-token
    Rule("a PyPI token", (b"pypi-AgE",), rb"\bpypi-AgE[A-Za-z0-9_-]{50,}"),  # pypi-upload-token
    Rule("a Hugging Face token", (b"hf_",), rb"\bhf_[A-Za-z0-9]{34,40}" + _END),  # huggingface-access-token
    Rule("a Twilio API key", (b"SK",), rb"\bSK[0-9a-fA-F]{32}" + _END),  # twilio-api-key
    Rule("a SendGrid key", (b"SG.",), rb"\bSG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}"),  # sendgrid-api-token
    Rule(
        "a Shopify token", (b"shpat_", b"shpca_", b"shppa_", b"shpss_"), rb"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"
    ),  # shopify-*
    Rule("a DigitalOcean token", (b"_v1_",), rb"\bdo[opr]_v1_[a-f0-9]{64}"),  # digitalocean-*
    Rule("a Doppler token", (b"dp.",), rb"\bdp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44}"),  # doppler-api-token
    Rule("a Databricks token", (b"dapi",), rb"\bdapi[a-f0-9]{32}"),  # databricks-api-token
    Rule("a Postman key", (b"PMAK-",), rb"\bPMAK-[a-fA-F0-9]{24}-[a-fA-F0-9]{34}"),  # postman-api-token
    Rule("a Pulumi token", (b"pul-",), rb"\bpul-[a-f0-9]{40}"),  # pulumi-api-token
    Rule(
        "a HashiCorp Vault token", (b"hvs.", b"hvb."), rb"\bhv[sb]\.[A-Za-z0-9_-]{24,}"
    ),  # vault-service-token, -batch-token
    Rule(
        "a Terraform Cloud token", (b".atlasv1.",), rb"\b[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,70}"
    ),  # hashicorp-tf-api-token
    Rule("a Linear key", (b"lin_api_",), rb"\blin_api_[A-Za-z0-9]{40}"),  # linear-api-key
    Rule(
        "a Grafana token", (b"glsa_", b"glc_"), rb"\bglsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|\bglc_[A-Za-z0-9+/]{32,}"
    ),  # grafana-*
    Rule("an Atlassian token", (b"ATATT3",), rb"\bATATT3[A-Za-z0-9_=-]{150,}"),  # atlassian-api-token
    Rule(
        "an Azure client secret", (b"Q~",), rb"[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}"
    ),  # azure-ad-client-secret
    Rule("a Heroku key", (b"HRKU-AA",), rb"\bHRKU-AA[0-9A-Za-z_-]{58}"),  # heroku-api-key-v2
    Rule(
        "a Sentry token", (b"sntrys_", b"sntryu_", b"sntrus_"), rb"\bsntr[ysu]_[A-Za-z0-9+/=_]{40,}"
    ),  # sentry-*-token
    Rule("a 1Password token", (b"ops_eyJ",), rb"\bops_eyJ[A-Za-z0-9+/]{100,}"),  # 1password-service-account-token
    Rule("an Alibaba key", (b"LTAI",), rb"\bLTAI[A-Za-z0-9]{20}" + _END),  # alibaba-access-key-id
    Rule("a New Relic key", (b"NRAK-",), rb"\bNRAK-[A-Z0-9]{27}"),  # new-relic-user-api-key
    Rule("a Tailscale key", (b"tskey-",), rb"\btskey-[a-z]{3,10}-[A-Za-z0-9]{6,40}-[A-Za-z0-9]{20,80}"),
    Rule("a Dynatrace token", (b"dt0c01.",), rb"\bdt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}"),  # dynatrace-api-token
    Rule("a Supabase token", (b"sbp_",), rb"\bsbp_[a-f0-9]{40}"),
    Rule("a Figma token", (b"figd_",), rb"\bfigd_[A-Za-z0-9_-]{40}"),
    Rule("a Telegram bot token", (b":AA",), rb"\b[0-9]{8,10}:AA[A-Za-z0-9_-]{33}" + _END),  # telegram-bot-api-token
    Rule("a JSON Web Token", (b"eyJ",), rb"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{16,}"),  # jwt
)

# A name that says its value is a secret: password, *_SECRET, token, api key, AccountKey, npmAuthToken, auth ...
# The name's start is found in scan.py; here the word and its tail. The judged rules repeat without bounds: re2 is
# linear either way, and bounded repeats multiply its automaton's states (3x slower, measured).
_NAMES = (
    b"passw", b"passphrase", b"secret", b"token", b"apikey", b"api_key", b"api-key", b"accesskey", b"access_key",
    b"access-key", b"privatekey", b"private_key", b"private-key", b"accountkey", b"account_key", b"clientkey",
    b"client_key", b"client-key", b"signingkey", b"signing_key", b"masterkey", b"master_key", b"encryptionkey",
    b"encryption_key", b"auth\"", b"auth'", b"auth =", b"auth=", b"auth:", b"_auth", b"credential", b"pwd",
    b"pass =", b"pass=", b"pass:", b'pass":', b"pw =", b"pw=", b"psk",
)  # fmt: skip
_NAME = (
    rb"(?:passw(?:or)?d|passphrase|passwort|secret|token|api[_.-]?key|access[_.-]?key|private[_.-]?key|"
    rb"account[_.-]?key|client[_.-]?key|signing[_.-]?key|master[_.-]?key|encryption[_.-]?key|auth|credential|pwd|"
    rb"\bpass\b|\bpw\b|\bpsk\b)"
)
# `name = value`, `name: value`, `"name": "value"`, `name := value`, `name => value`, `<name>value</name>`.
ASSIGNMENT = Rule(
    "an assignment",
    _NAMES,
    # The value: to the closing quote when quoted (a passphrase has spaces), else to the first space or quote.
    rb"(?i)" + _NAME + rb"[A-Za-z0-9_.-]*(?:[\"']?[ \t]*(?::=|=>|\?=|=|:|>)|[\"'][ \t]*,)[ \t]*"
    rb"[bBrRuUfF]{0,2}(?:\"([^\"\r\n]+)\"|'([^'\r\n]+)'|[\"'`]?([^\s\"'`;,<]+))",
    "assignment",
    nocase=True,
)
# scheme://user:password@host (postgres, mysql, redis, amqp, mongodb+srv, https ...).
URL = Rule(
    "a URL with a password",
    (b"://",),
    rb"(?i)\b[a-z][a-z0-9+.-]+://[^\s:/@\"'<>]*:([^\s:/@\"'<>]+)@[A-Za-z0-9\[]",
    "url",
)
HEADER = Rule(
    "an Authorization header",
    (b"authorization",),
    rb"(?i)\b(?:authorization|proxy-authorization)[\"']?[ \t]*[:=,][ \t]*[\"']?(?:bearer|basic|token)"
    rb"[ \t]{1,4}([A-Za-z0-9._~+/=-]{12,})",
    "header",
    nocase=True,
)
# A ~/.pgpass line, host:port:database:user:password (the file has no keyword; the usual ports wake the rule).
PGPASS = Rule(
    "a .pgpass password",
    (b":543", b":*:", b":6432:"),
    rb"(?m)^[A-Za-z0-9._*\[\]-]+:(?:[0-9]{1,5}|\*):[^:\s]+:[^:\s]+:(\S+)[ \t]*\r?$",
    "url",
)
# A password on a MySQL or MariaDB command line: `mysqldump -u root -pXk9v2LmQp7` (no space after -p).
MYSQL_P = Rule(
    "a password on a mysql command line",
    (b"mysql", b"mariadb"),
    rb"(?i:\b(?:mysql[a-z_-]*|mariadb[a-z_-]*))[ \t][^\r\n]{0,200}?[ \t]-p"
    rb"([^\s'\"$`;|&]{3,}|'[^'\r\n]{3,}'|\"[^\"\r\n]{3,}\")",
    "url",
    nocase=True,
)
# .netrc lines (machine x login y password z) and a Kubernetes Secret's data.
NETRC = Rule("a .netrc password", (b"machine",), rb"\bmachine[ \t]+\S+[ \t]+login[ \t]+\S+[ \t]+password[ \t]+\S")
K8S_SECRET = Rule("a Kubernetes Secret", (b"Secret",), rb"(?m)^kind:[ \t]*[\"']?Secret[\"']?[ \t]*$", "k8s")

JUDGED: tuple[Rule, ...] = (ASSIGNMENT, URL, HEADER, PGPASS, MYSQL_P, NETRC, K8S_SECRET)

# Names whose value is no secret even though they hold a secret-ish word: where a secret is, not what it is.
SAFE_NAME_ENDS = (
    "file", "path", "dir", "name", "env", "var", "url", "uri", "type", "len", "length", "size", "count", "prompt",
    "field", "header", "param", "regex", "pattern", "format", "class", "kind", "cmd", "command", "policy", "id",
    "ids", "index", "endpoint", "expiry", "expires", "expires_in", "expiration", "ttl", "timeout", "method", "mode",
    "source", "store", "helper", "label", "hint", "message", "msg", "error", "required", "enabled", "set", "flag",
    "prefix", "suffix", "char", "chars", "re", "text", "attr", "key_id", "version", "bits", "algorithm", "alg",
    "scheme", "provider", "location", "manager", "limit", "max", "min", "handler", "callback", "hook", "fn", "func",
    "module", "plugin", "backend", "service", "host", "port", "user", "username", "login", "keys", "tokens", "ref",
    "reference", "hasher", "hashers", "secret_name", "arn", "help", "description", "desc", "title", "tooltip",
)  # fmt: skip
# Names whose value is where a secret is kept, whatever they end with: Bitnami charts' `existingSecret`.
SAFE_NAME_STARTS = ("existing",)
