"""The exact rules each consumer of a setting applies (Kubernetes, helm, nginx, the chart), as plain checks.

Every check raises ValueError with words that name what is wrong and show a valid example, so the
model (presets), the wizard fields and the command line flags all say the same thing.
"""

from __future__ import annotations

import ipaddress
import re
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

# Kubernetes' own patterns (k8s.io/apimachinery/pkg/util/validation); fullmatch only, so no "\n" slips past `$`.
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")
LABEL_MAX, SUBDOMAIN_MAX, HELM_RELEASE_MAX, CRONJOB_NAME_MAX = 63, 253, 53, 52
# resource.Quantity's grammar: sign, digits, optional fraction, then a binary/decimal suffix or an exponent
QUANTITY = re.compile(
    r"(?P<num>[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+))(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?"
)
QUANTITY_FACTORS = {  # decimal suffixes are powers of 1000, binary ones (Ki, Mi, ...) powers of 1024
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    **{prefix: Decimal(1000) ** power for power, prefix in enumerate("kMGTPE", start=1)},
    **{prefix + "i": Decimal(1024) ** power for power, prefix in enumerate("KMGTPE", start=1)},
}
# docker's reference grammar (distribution/reference): a repository and a tag
REPO_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REPO_DOMAIN = (
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
)
IMAGE_REPOSITORY = re.compile(rf"(?:{REPO_DOMAIN}/)?{REPO_COMPONENT}(?:/{REPO_COMPONENT})*")
REPOSITORY_PATH = re.compile(rf"{REPO_COMPONENT}(?:/{REPO_COMPONENT})*")
IMAGE_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
REALM = re.compile(r"[A-Za-z0-9][A-Za-z0-9 .,:()@/_+-]{0,62}[A-Za-z0-9.)]|[A-Za-z0-9]")
S3_BUCKET = re.compile(r"[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?")
S3_REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
CHART_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
CHART_VERSION = re.compile(r"[0-9A-Za-z^~*=<>v][0-9A-Za-z.+_~^*=<>,|-]{0,63}")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def require_text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text, got {type(value).__name__} {value!r}")
    return value


def dns_label(value: str, what: str = "name", example: str = "docker-registry", start_letter: bool = False) -> str:
    """A DNS-1123 label (namespaces, label values): lowercase letters, digits, '-', at most 63 characters."""
    pattern = DNS1035_LABEL if start_letter else DNS_LABEL
    if not isinstance(value, str) or len(value) > LABEL_MAX or not pattern.fullmatch(value):
        first = "a letter" if start_letter else "a letter or digit"
        raise ValueError(
            f"{repr(value)} is not a valid {what}: lowercase letters, digits and '-', starting with {first} "
            f"and ending with a letter or digit, at most {LABEL_MAX} characters, e.g. {example}"
        )
    return value


def dns_subdomain(value: str, what: str = "name", example: str = "registry-tls", limit: int = SUBDOMAIN_MAX) -> str:
    """A DNS-1123 subdomain (most object names): lowercase letters, digits, '-' and '.', at most 253 characters."""
    if not isinstance(value, str) or len(value) > limit or not DNS_SUBDOMAIN.fullmatch(value):
        raise ValueError(
            f"{repr(value)} is not a valid {what}: lowercase letters, digits, '-' and '.', starting and ending "
            f"with a letter or digit, at most {limit} characters, e.g. {example}"
        )
    return value


def hostname(value: object) -> str:
    """A public hostname for an Ingress rule: lowercased; no IP address, port, scheme, path or wildcard."""
    text = require_text(value, "a hostname")
    host = text.lower()
    hint = "no scheme, port or path, e.g. registry.example.com"
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        raise ValueError(
            f"{text!r} is an IP address; an Ingress rule needs a DNS name: give a hostname that resolves to "
            f"the ingress (e.g. registry.example.com, or 10-0-0-5.sslip.io for a lab)"
        )
    labels = host.split(".")
    too_long = next((label for label in labels if len(label) > LABEL_MAX), None)
    if too_long is not None:
        raise ValueError(
            f"this is not a valid hostname: its label '{too_long[:12]}…' is {len(too_long)} characters, and a DNS "
            f"label (the part between dots) has at most {LABEL_MAX}"
        )
    if len(host) > SUBDOMAIN_MAX:
        raise ValueError(
            f"this is not a valid hostname: it is {len(host)} characters, and a DNS name has at most {SUBDOMAIN_MAX}"
        )
    if (
        len(host) > SUBDOMAIN_MAX
        or not DNS_SUBDOMAIN.fullmatch(host)
        or any(len(label) > LABEL_MAX for label in labels)
    ):
        raise ValueError(
            f"{text!r} is not a valid hostname (RFC 1123): lowercase letters, digits, '-' and dots, {hint}"
        )
    if labels[-1].isdigit():
        raise ValueError(f"{text!r} is not a valid hostname: the last label cannot be all digits, {hint}")
    return host


def user_name(value: object) -> str:
    """An htpasswd user name: no ':' (the separator), no whitespace or control characters."""
    if not isinstance(value, str):
        raise ValueError(f"the user name must be text, not a {type(value).__name__} (quote it)")
    if not USER_NAME.fullmatch(value):
        # never echo the name: a password typed into the wrong field must not appear on screen or in a log
        raise ValueError(
            f"the user name is invalid ({_user_name_fault(value)}): use letters, digits, '.', '_', '@', '-', "
            "at most 64 characters, e.g. admin or ci@example.com"
        )
    return value


def _user_name_fault(name: str) -> str:
    """Which rule a user name breaks, without repeating it."""
    if not name:
        return "it is empty"
    if len(name) > 64:
        return f"it has {len(name)} characters"
    if ":" in name or any(c.isspace() for c in name):
        return "it contains ':', a space or a line break"
    if not name[0].isalnum():
        return "it must start with a letter or a digit"
    return "it contains characters other than letters, digits, '.', '_', '@', '-'"


def realm(value: object) -> str:
    """The basic-auth realm nginx shows in the login prompt: printable, no quotes, backslashes or line breaks."""
    text = require_text(value, "auth.realm")
    if not REALM.fullmatch(text):
        raise ValueError(
            f"realm {text!r} is not allowed: 1 to 64 letters, digits, spaces and . , : ( ) @ / _ + - "
            "(no quotes, backslashes, '$', ';' or line breaks), e.g. Registry Realm"
        )
    return text


def quantity(value: object, what: str = "size", example: str = "100Gi", allow_milli: bool = False) -> str:
    """A Kubernetes quantity (resource.Quantity) larger than zero; surrounding spaces are dropped."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"{what} must be a Kubernetes quantity such as {example}, got {value!r}")
    text = str(value).strip()
    match = QUANTITY.fullmatch(text)
    if not match:
        raise ValueError(
            f"{text!r} is not a {what}: write a Kubernetes quantity such as {example}"
            f"{', 1 or 2.5' if allow_milli else ', 500Mi or 1Ti'}"
        )
    if quantity_value(text) <= 0:
        raise ValueError(f"{what} {text!r} must be larger than zero; e.g. {example}")
    if not allow_milli and quantity_value(text) != int(quantity_value(text)):
        raise ValueError(f"{what} {text!r} is a fraction of a byte; write whole bytes, e.g. {example}")
    return text


def quantity_value(text: str) -> Decimal:
    """The value of a Kubernetes quantity (`100Gi` -> 107374182400); ValueError when it is not one."""
    match = QUANTITY.fullmatch(str(text).strip())
    if not match:
        raise ValueError(f"{text!r} is not a Kubernetes quantity; e.g. 100Gi")
    try:
        number = Decimal(match["num"])
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a Kubernetes quantity; e.g. 100Gi") from None
    suffix = match["suffix"] or ""
    if suffix[:1] in ("e", "E") and suffix not in QUANTITY_FACTORS:
        exponent = int(suffix[1:])
        if abs(exponent) > 30:
            raise ValueError(f"{text!r} is out of range; e.g. 100Gi")
        return number.scaleb(exponent)
    return number * QUANTITY_FACTORS[suffix]


# robfig/cron's standard parser, which Kubernetes uses for CronJob.spec.schedule: five fields, each
# `*`, `?` (day fields), N, N-M, with /STEP, comma lists; month and weekday names; @descriptors.
CRON_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}),
    ("day of week", 0, 6, {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}),
)
CRON_DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


def cron_schedule(value: object) -> str:
    """A CronJob schedule Kubernetes accepts; ValueError naming the bad field otherwise."""
    text = require_text(value, "a cron schedule")
    example = 'e.g. "0 1 * * *" (01:00 every day) or @daily'
    if CONTROL.search(text) or text != text.strip():
        raise ValueError(f"cron schedule {text!r} has line breaks or surrounding spaces; {example}")
    if text.startswith("@"):
        if text.lower() in CRON_DESCRIPTORS:
            return text
        if re.fullmatch(r"@every [0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h)([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))*", text):
            return text
        raise ValueError(f"{text!r} is not a cron descriptor (@hourly, @daily, @weekly, @monthly, @yearly); {example}")
    if "TZ=" in text:
        raise ValueError(f"cron schedule {text!r}: Kubernetes does not accept a time zone in the schedule; {example}")
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(
            f"{text!r} is not a cron schedule of five fields (minute hour day-of-month month day-of-week); {example}"
        )
    for field_text, (name, low, high, names) in zip(fields, CRON_FIELDS):
        for part in field_text.split(","):
            if not _cron_part(part, low, high, names, allow_question=name.startswith("day")):
                raise ValueError(
                    f"cron schedule {text!r}: the {name} field {field_text!r} is not valid "
                    f"(numbers {low}-{high}, *, ranges a-b, steps */n, lists a,b); {example}"
                )
    return text


def _cron_part(part: str, low: int, high: int, names: dict[str, int], allow_question: bool) -> bool:
    range_text, slash, step = part.partition("/")
    if slash and not step:
        return False
    if dash_or_step_bad(step):
        return False
    if range_text in ("*", "?"):
        return range_text == "*" or allow_question
    start_text, dash, end_text = range_text.partition("-")
    start = _cron_number(start_text, names)
    end = _cron_number(end_text, names) if dash else start
    if start is None or end is None:
        return False
    if not (low <= start <= high and low <= end <= high and start <= end):
        return False
    return True


def dash_or_step_bad(step: str) -> bool:
    return bool(step) and not (step.isascii() and step.isdigit() and len(step) <= 3 and int(step) > 0)


def _cron_number(text: str, names: dict[str, int]) -> int | None:
    if text.lower() in names:
        return names[text.lower()]
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 3 else None


def http_url(value: object, what: str, example: str, secret_hint: str = "") -> str:
    """An http(s) URL with a host and no credentials, query or fragment (parsed with urllib.parse)."""
    text = require_text(value, what)
    if CONTROL.search(text) or any(c.isspace() for c in text):
        raise ValueError(f"{what} {text!r} has spaces or line breaks; give a URL such as {example}")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{what} {text!r} is not a URL ({exc}); give a URL such as {example}") from None
    if parts.username is not None or parts.password is not None:
        # never echo the URL: it holds a secret
        raise ValueError(
            f"{what} holds credentials (user:password@); never put them in a URL, it is written to values.yaml. "
            f"{secret_hint or 'Remove them from the URL'}"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} {text!r} is not an http:// or https:// URL with a host; give a URL such as {example}")
    if parts.query or parts.fragment or "#" in text or "?" in text:
        raise ValueError(
            f"{what} {text!r} has a query or fragment; give just the scheme, host, port and path, e.g. {example}"
        )
    if port == 0:
        raise ValueError(f"{what} {text!r}: port 0 is not a port; e.g. {example}")
    return text


# The YAML 1.1 words helm's YAML parser (go-yaml v2, through sigs.k8s.io/yaml) reads as booleans or null.
YAML_WORDS = {
    w
    for word in ("y", "yes", "n", "no", "true", "false", "on", "off", "null")
    for w in (word, word.capitalize(), word.upper())
} | {"~"}


def reads_as_text(value: str) -> bool:
    """True when a plain (unquoted) YAML scalar `value` stays text for helm's YAML parser, as go-yaml v2 resolves it:
    its boolean and null words, and anything starting with a digit, sign or dot that Go parses as an int or float."""
    if value in YAML_WORDS:
        return False
    if value[:1] not in set("0123456789+-."):
        return True
    plain = value.replace("_", "")
    hex_float = (lambda t: float.fromhex(t)) if plain.lstrip("+-")[:2].lower() == "0x" else float
    for parse in (lambda t: int(t, 0), lambda t: int(t, 8), float, hex_float):
        try:
            parse(plain)
            return False
        except ValueError:
            continue
    return True


def chart_text(value: str, what: str, example: str) -> str:
    """A name the chart writes unquoted (namespace, release label, Ingress host and class, claim name) must stay
    text."""
    if not reads_as_text(value):
        raise ValueError(
            f"{what} {value!r} would reach Kubernetes as a number or boolean, not text (the chart writes it "
            f"without quotes); choose a name with a letter in it, e.g. {example}"
        )
    return value


def no_option(value: str, what: str, example: str) -> str:
    """Text that reaches helm's command line: never an option, never a control character."""
    if value.startswith("-"):
        raise ValueError(f"{what} {value!r} starts with '-': helm would read it as an option; e.g. {example}")
    if CONTROL.search(value):
        raise ValueError(f"{what} {value!r} has line breaks or control characters; e.g. {example}")
    return value


def image_reference(value: str, setting: str, example: str) -> str:
    """An image reference (REPOSITORY[:TAG][@DIGEST]); ValueError naming `setting` otherwise."""
    name, _, tag = value.partition("@")[0].rpartition(":") if ":" in value.split("/")[-1] else (value, "", "")
    if not IMAGE_REPOSITORY.fullmatch(name or value) or (tag and not IMAGE_TAG.fullmatch(tag)) or CONTROL.search(value):
        raise ValueError(f"{setting} {value!r} is not an image reference, e.g. {example}")
    return value


CHART_NAME_DEFAULT = "docker-registry"
CHART_SUFFIX = "-" + CHART_NAME_DEFAULT
GC_SUFFIX = "-installer-gc"  # the installer's CronJob (installer/gcschedule.py)


def chart_fullname(release: str) -> str:
    """The name the chart gives its objects for this release (its `docker-registry.fullname` helper)."""
    name = release if CHART_NAME_DEFAULT in release else f"{release}{CHART_SUFFIX}"
    return name[:LABEL_MAX].rstrip("-")


def installer_objects(release: str) -> dict[str, str]:
    """Secret names the installer and the chart write for a release -> words for what each is."""
    fullname = chart_fullname(release)
    return {
        f"{release}-ca": "the installer's CA Secret",
        f"{release}-installer": "the installer's state Secret (generated passwords)",
        f"{release}-basic-auth": "the ingress basic-auth Secret",
        f"{release}-s3": "the S3 keys Secret",
        f"{fullname}-secret": "the chart's own Secret (htpasswd, haSharedSecret)",
    }


def secret_key_for_user(name: str) -> str:
    """The key a user's generated password is kept under in the installer's Secret; always a valid Secret key.

    Plain names keep the readable `password.NAME`; any other name (e.g. with '@') is base32-encoded under
    `password-b32.`, so two names never share a key.
    """
    import base64

    key = f"password.{name}"
    if SECRET_KEY.fullmatch(key) and len(key) <= SUBDOMAIN_MAX:
        return key
    return "password-b32." + base64.b32encode(name.encode("utf-8")).decode("ascii").rstrip("=").lower()


def user_from_secret_key(key: str) -> str | None:
    """The user name a `secret_key_for_user` key stands for; None for other keys."""
    import base64
    import binascii

    if key.startswith("password-b32."):
        encoded = key.removeprefix("password-b32.").upper()
        try:
            return base64.b32decode(encoded + "=" * (-len(encoded) % 8)).decode("utf-8")
        except (binascii.Error, ValueError):
            return None
    if key.startswith("password."):
        return key.removeprefix("password.")
    return None
