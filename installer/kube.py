"""The Kubernetes API behind one small class: config loading, timeouts, and errors in words."""

from __future__ import annotations

import os
import re
import time
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, TypeVar

from installer.errors import InstallerError

T = TypeVar("T")
REQUEST_TIMEOUT = (5, 30)  # connect, read (seconds)
RETRIES = 4
RETRY_STATUSES = (429, 503, 504)


class Forbidden(InstallerError):
    """The API server said 403 for a call; `what` names the verb and resource."""


class NotFound(InstallerError):
    """The object does not exist (404)."""


def list_contexts(kubeconfig: str | None = None) -> tuple[list[str], str | None]:
    """Context names in the kubeconfig and the current one; ([], None) when there is no kubeconfig, or one the
    kubernetes client would refuse (KubeClient then says what is wrong).

    The files of a KUBECONFIG path list are merged as the kubernetes client merges them (a context name's first
    file wins; the last file that sets current-context wins). Read without the client: importing the kubernetes
    package takes ~75 ms of CPU, and the wizard's first frame lists the contexts. A kubeconfig as kubectl, kind and
    the cloud CLIs write it (block-style YAML, plain or simply quoted names) is read by `_block_yaml`; any other
    YAML by PyYAML (importing it costs ~8 ms of the first frame)."""
    paths = os.environ.get("KUBECONFIG", "~/.kube/config") if kubeconfig is None else kubeconfig
    found: dict[str, dict[Any, Any]] = {"clusters": {}, "contexts": {}}
    current = None
    read = False
    try:
        for path in (os.path.expanduser(p) for p in paths.split(os.pathsep) if p):
            if not os.path.exists(path):
                continue
            with open(path) as f:
                text = f.read()
            try:
                config: Any = _block_yaml(text)
            except _NotBlockYaml:
                import yaml

                # libyaml's parser when present: kubeconfigs carry long certificate strings
                config = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            if not isinstance(config, dict):
                return [], None
            read = True
            for section in ("clusters", "contexts", "users"):
                for entry in config.get(section) or []:
                    if entry["name"] is None:
                        return [], None
                    if section in found:
                        found[section].setdefault(entry["name"], entry.get(section[:-1]))
            if "current-context" in config:
                current = config["current-context"]
        context = found["contexts"].get(current) if read else None
        if not isinstance(context, dict) or found["clusters"].get(context.get("cluster")) is None:
            return [], None  # the client refuses a current context that names no context, or one with no cluster
    except Exception:  # any malformed kubeconfig: no contexts to offer
        return [], None
    return list(found["contexts"]), current


class _NotBlockYaml(Exception):
    """The text is not in the block-YAML subset `_block_yaml` reads: PyYAML reads it."""


class _Plain(str):
    """A plain (unquoted) scalar, kept as written: only the scalars list_contexts reads are resolved (`_text`)."""


_BLOCK_KEY = re.compile(r"([A-Za-z0-9_][A-Za-z0-9_.-]*):(?: +(.*))?")
_NOT_PRINTABLE_ASCII = re.compile(r"[^\n\x20-\x7e]")
_YAML_WORDS = {"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false", "False"}
_YAML_WORDS |= {"FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~"}


def _block_yaml(text: str) -> Any:
    """The mapping a kubeconfig in block style holds, as yaml.safe_load reads it, except that plain scalars are kept
    as written (`_Plain`, or None for the null words); `_NotBlockYaml` for anything outside this subset (flow
    collections other than {} and [], anchors, tags, block or multi-line scalars, escapes, comments after a value,
    tabs, non-ASCII text, several documents...), which PyYAML then reads. The scalars list_contexts uses (names,
    current-context, a context's cluster) are checked to be strings as YAML would resolve them (`_text`)."""
    if _NOT_PRINTABLE_ASCII.search(text):
        raise _NotBlockYaml
    lines = []
    for raw in text.split("\n"):
        stripped = raw.lstrip(" ")
        if stripped and not stripped.startswith("#"):
            lines.append((len(raw) - len(stripped), stripped.rstrip(" ")))
    if not lines or lines[0][0] != 0:
        raise _NotBlockYaml
    end, config = _block_mapping(lines, 0, 0)
    if end != len(lines):
        raise _NotBlockYaml
    for section in ("clusters", "contexts", "users"):
        entries = config.get(section)
        if not isinstance(entries, (list, dict, type(None))):
            raise _NotBlockYaml
        for entry in entries if isinstance(entries, list) else ():
            if isinstance(entry, dict) and "name" in entry:
                entry["name"] = _text(entry["name"])
                body = entry.get("context")
                if section == "contexts" and isinstance(body, dict) and "cluster" in body:
                    body["cluster"] = _text(body["cluster"])
    if "current-context" in config:
        config["current-context"] = _text(config["current-context"])
    return config


def _text(value: Any) -> Any:
    """A scalar list_contexts reads, as YAML resolves it: None, a quoted string, or a plain one that is surely a string
    (one that YAML could read as a number, a date, a boolean or a merge key is left to PyYAML)."""
    if isinstance(value, _Plain) and (value[0] in "-+.0123456789<=" or value in _YAML_WORDS):
        raise _NotBlockYaml
    if value is not None and not isinstance(value, str):
        raise _NotBlockYaml
    return None if value is None else str(value)


def _block_mapping(lines: list[tuple[int, str]], start: int, indent: int) -> tuple[int, dict[str, Any]]:
    """The mapping whose keys start at column `indent` from line `start`; (the next line, the mapping)."""
    mapping: dict[str, Any] = {}
    i = start
    while i < len(lines) and lines[i][0] == indent:
        key_line = _BLOCK_KEY.fullmatch(lines[i][1])
        if key_line is None or key_line[1] in mapping:
            raise _NotBlockYaml
        i += 1
        if key_line[2] is not None:
            value = _block_scalar(key_line[2])
        elif i < len(lines) and lines[i][1].startswith("- ") and lines[i][0] >= indent:
            i, value = _block_sequence(lines, i, lines[i][0])
        elif i < len(lines) and lines[i][0] > indent:
            i, value = _block_mapping(lines, i, lines[i][0])
        else:
            value = None
        mapping[key_line[1]] = value
    if i < len(lines) and lines[i][0] > indent:
        raise _NotBlockYaml  # a continued scalar, or a line indented like nothing before it
    return i, mapping


def _block_sequence(lines: list[tuple[int, str]], start: int, indent: int) -> tuple[int, list[Any]]:
    """The sequence whose `- ` items start at column `indent` from line `start`; (the next line, the list)."""
    items: list[Any] = []
    i = start
    while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
        item = lines[i][1][2:].lstrip(" ")
        column = indent + len(lines[i][1]) - len(item)
        if item.startswith("- ") or item in ("", "-") or item.startswith("#"):
            raise _NotBlockYaml
        if _BLOCK_KEY.fullmatch(item):  # a mapping: its first key on the item's line, the others below it
            lines[i] = (column, item)
            i, value = _block_mapping(lines, i, column)
        else:
            i, value = i + 1, _block_scalar(item)
        items.append(value)
    if i < len(lines) and lines[i][0] > indent:
        raise _NotBlockYaml
    return i, items


def _block_scalar(text: str) -> Any:
    """A value written on its key's or item's line: {} or [], a quoted string without escapes, or a plain scalar."""
    if text in ("{}", "[]"):
        return {} if text == "{}" else []
    if text[0] == "'":
        inner = text[1:-1]
        if len(text) < 2 or text[-1] != "'" or "'" in inner.replace("''", ""):
            raise _NotBlockYaml
        return inner.replace("''", "'")
    if text[0] == '"':
        inner = text[1:-1]
        if len(text) < 2 or text[-1] != '"' or '"' in inner or "\\" in inner:
            raise _NotBlockYaml
        return inner
    if text[0] in "?:,[]{}#&*!|>%@`" or (text[0] == "-" and text[1:2] in ("", " ")):
        raise _NotBlockYaml
    if ": " in text or " #" in text or text.endswith(":"):
        raise _NotBlockYaml
    return None if text in ("null", "Null", "NULL", "~") else _Plain(text)


MAX_KUBECONFIG_BYTES = 4 * 1024 * 1024


def check_kubeconfig(paths: str, setting: str = "--kubeconfig") -> list[str]:
    """The existing files of a kubeconfig path list, each checked to be a readable YAML mapping of the
    kubeconfig shape (with valid base64 certificate data); InstallerError naming the file otherwise."""
    import base64
    import binascii

    import yaml

    from installer.files import FileProblem, read_user_file, read_user_text

    existing = []
    for path in [p for p in paths.split(os.pathsep) if p]:
        if not os.path.lexists(os.path.expanduser(path)):
            continue
        try:
            text = read_user_text(path, setting, "kubeconfig file", MAX_KUBECONFIG_BYTES)
        except FileProblem as exc:
            raise InstallerError(exc.message, exc.hint) from None
        try:
            tree = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark else ""
            raise InstallerError(
                f"kubeconfig {path} is not valid YAML{where}: {getattr(exc, 'problem', None) or 'parse error'}",
                "fetch a fresh kubeconfig for the cluster, or check the file with `kubectl config view`",
            ) from None
        except (ValueError, RecursionError):
            raise InstallerError(
                f"kubeconfig {path} holds a value YAML cannot read", "check the file with `kubectl config view`"
            ) from None
        if tree is None:
            continue  # an empty file: kubectl ignores it too
        if not isinstance(tree, dict):
            raise InstallerError(
                f"kubeconfig {path} is a YAML {type(tree).__name__}, not a kubeconfig (a mapping with clusters, users, "
                "contexts)",
                "point --kubeconfig or KUBECONFIG at a kubeconfig file",
            )
        for section, inner, keys, file_keys in (
            ("clusters", "cluster", ("certificate-authority-data",), ("certificate-authority",)),
            (
                "users",
                "user",
                ("client-certificate-data", "client-key-data"),
                ("client-certificate", "client-key", "tokenFile"),
            ),
        ):
            entries = tree.get(section) or []
            if not isinstance(entries, list):
                raise InstallerError(
                    f"kubeconfig {path}: '{section}' is not a list", "check the file with `kubectl config view`"
                )
            for entry in entries:
                body = (entry.get(inner) or {}) if isinstance(entry, dict) else None  # `user:` left empty is allowed
                if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not isinstance(body, dict):
                    raise InstallerError(
                        f"kubeconfig {path}: an entry of '{section}' has no name or no {inner} mapping",
                        "check the file with `kubectl config view`",
                    )
                for key in file_keys:  # files it names are read by the client library: regular and small, or say so now
                    named = body.get(key)
                    if isinstance(named, str) and named:
                        target = Path(os.path.expanduser(named))
                        target = target if target.is_absolute() else Path(os.path.expanduser(path)).parent / target
                        try:
                            read_user_file(
                                target,
                                f"kubeconfig {path}: {section[:-1]} '{entry['name']}' {key}",
                                "PEM file",
                                remember=False,
                            )
                        except FileProblem as exc:
                            raise InstallerError(exc.message, exc.hint) from None
                for key in keys:
                    value = body.get(key)
                    if value is None:
                        continue
                    try:
                        decoded = base64.b64decode(str(value), validate=True)
                    except (binascii.Error, ValueError):
                        raise InstallerError(
                            f"kubeconfig {path}: {section[:-1]} '{entry['name']}' has {key} that is not base64",
                            "fetch a fresh kubeconfig; the certificate data must be base64 PEM",
                        ) from None
                    if b"-----BEGIN " not in decoded:
                        raise InstallerError(
                            f"kubeconfig {path}: {section[:-1]} '{entry['name']}' has {key} that is not PEM "
                            "(no -----BEGIN line once decoded)",
                            "fetch a fresh kubeconfig; the certificate data must be base64 PEM",
                        )
        existing.append(path)
    return existing


class KubeClient:
    """A connection to one cluster, from a kubeconfig context (or in-cluster config)."""

    def __init__(self, context: str | None = None, kubeconfig: str | None = None) -> None:
        from kubernetes import client, config

        self.kubeconfig = kubeconfig or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
        configuration = client.Configuration()
        files = check_kubeconfig(
            self.kubeconfig,
            "--kubeconfig" if kubeconfig else ("KUBECONFIG" if os.environ.get("KUBECONFIG") else "kubeconfig"),
        )
        try:
            if files:
                # like kubectl: missing files in a KUBECONFIG list are skipped, the others merged in order
                self.kubeconfig = os.pathsep.join(files)
                config.load_kube_config(
                    config_file=self.kubeconfig,
                    context=context,
                    client_configuration=configuration,
                    persist_config=False,
                )
            elif os.environ.get("KUBERNETES_SERVICE_HOST"):
                config.load_incluster_config(client_configuration=configuration)
            else:
                raise InstallerError(
                    f"no kubeconfig at {self.kubeconfig} and not running inside a cluster",
                    "point KUBECONFIG at your cluster's kubeconfig, or pass --kubeconfig",
                )
        except config.ConfigException as exc:
            text = str(exc)
            if context and "context" in text.lower():
                names, _ = list_contexts(self.kubeconfig)
                raise InstallerError(
                    f"kube context '{context}' is not in {self.kubeconfig}",
                    f"use one of: {', '.join(names) or '(none)'} (kubectl config get-contexts)",
                ) from None
            raise InstallerError(
                f"cannot load kubeconfig {self.kubeconfig}: {text}", "check the file with `kubectl config view`"
            ) from None
        except (ValueError, TypeError, KeyError, AttributeError, OSError) as exc:
            # the client library's own parsing of a malformed entry (bad base64, a wrong type, an unreadable file it
            # names)
            raise InstallerError(
                f"cannot load kubeconfig {self.kubeconfig}: {exc.__class__.__name__}: {str(exc)[:200]}",
                "check the file with `kubectl config view`; fetch a fresh kubeconfig for the cluster",
            ) from None
        configuration.retries = 0
        self.context = context or list_contexts(self.kubeconfig)[1]
        self.server = configuration.host
        self.api = client.ApiClient(configuration)

    # The typed API groups load hundreds of generated models each (seconds on a small machine):
    # each is built on first use only. The probe uses `get_json` and needs none of them.
    @cached_property
    def core(self):
        from kubernetes.client import CoreV1Api

        return CoreV1Api(self.api)

    @cached_property
    def networking(self):
        from kubernetes.client import NetworkingV1Api

        return NetworkingV1Api(self.api)

    @cached_property
    def apps(self):
        from kubernetes.client import AppsV1Api

        return AppsV1Api(self.api)

    @cached_property
    def batch(self):
        from kubernetes.client import BatchV1Api

        return BatchV1Api(self.api)

    @cached_property
    def coordination(self):
        from kubernetes.client import CoordinationV1Api

        return CoordinationV1Api(self.api)

    def get_json(self, what: str, path: str, query: dict[str, str] | None = None) -> dict[str, Any]:
        """GET `path` (e.g. /apis/storage.k8s.io/v1/storageclasses) as a plain dict, with `call`'s errors and
        retries."""
        return self.call(what, self._request_json, "GET", path, query, None)

    def post_json(self, what: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.call(what, self._request_json, "POST", path, None, body)

    def apply_json(self, what: str, path: str, body: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
        """Server-side apply of `body` at `path` (the object's own URL) as field manager registry-installer."""
        import json

        query = {"fieldManager": "registry-installer", "force": "true", **({"dryRun": "All"} if dry_run else {})}
        return self.call(
            what, self._request_json, "PATCH", path, query, json.dumps(body), "application/apply-patch+yaml"
        )

    def delete_json(self, what: str, path: str, query: dict[str, str] | None = None) -> dict[str, Any]:
        return self.call(what, self._request_json, "DELETE", path, query, None)

    def _request_json(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None,
        body: dict[str, Any] | str | None,
        content_type: str = "application/json",
        _request_timeout=REQUEST_TIMEOUT,
    ) -> dict[str, Any]:
        import json

        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        method, url, headers, body, post = self.api.param_serialize(
            method,
            path,
            query_params=list((query or {}).items()) or None,
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(method, url, headers, body, post, _request_timeout=_request_timeout)
        response.read()
        if response.status >= 400:
            raise ApiException(http_resp=response)
        return json.loads(response.data or b"{}")

    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one API call; turn transport and HTTP errors into InstallerErrors that say what to do."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError as Urllib3Error

        kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT)
        for attempt in range(RETRIES + 1):
            try:
                return fn(*args, **kwargs)
            except ApiException as exc:
                if exc.status in RETRY_STATUSES and attempt < RETRIES:
                    # throttled (429) or briefly unavailable (503, e.g. a CRD's storage initializing): wait and ask
                    # again
                    time.sleep(_retry_after(exc, attempt))
                    continue
                self._raise_api(exc, what)
            except Urllib3Error as exc:
                raise connection_error(self.server, what, exc) from None
            except OSError as exc:
                raise connection_error(self.server, what, exc) from None
        raise AssertionError("unreachable")

    def _raise_api(self, exc: Any, what: str) -> None:
        """An ApiException in words: forbidden, not found, unauthorized, or the server's own message."""
        if exc.status == 403:
            raise Forbidden(
                f"not allowed to {what} ({self._who()})",
                "ask a cluster admin for this permission (RBAC), or use a context that has it",
            ) from None
        if exc.status == 404:
            raise NotFound(f"{what}: not found") from None
        if exc.status == 401:
            raise InstallerError(
                f"the API server at {self.server} rejected our credentials while trying to {what}",
                "refresh the kubeconfig's credentials (token expired?)",
            ) from None
        raise InstallerError(
            f"the API server refused to {what}: {_api_message(exc)}", "see the message above; fix the setting it names"
        ) from None

    def _who(self) -> str:
        return f"context {self.context}" if self.context else "current identity"


def _retry_after(exc: Any, attempt: int) -> float:
    try:
        return min(float((exc.headers or {}).get("Retry-After", "")), 2.0)
    except (TypeError, ValueError):
        return 0.25 * (2**attempt)


def _api_message(exc: Any) -> str:
    import json

    try:
        return json.loads(exc.body).get("message") or exc.reason
    except (TypeError, ValueError, AttributeError):
        return f"{exc.status} {exc.reason}"


def connection_error(server: str | None, what: str, exc: BaseException) -> InstallerError:
    """Words for a failed connection to the API server."""
    text = f"{exc!r} {getattr(exc, 'reason', '')}"
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSLError" in text or "certificate verify failed" in text:
        return InstallerError(
            f"cannot verify the API server's certificate at {server} (TLS: {_short_ssl(text)})",
            "the kubeconfig's certificate-authority-data does not match this server: fetch a fresh kubeconfig for this "
            "cluster",
        )
    if "Connection refused" in text or "ConnectionRefused" in text or "NewConnectionError" in text:
        return InstallerError(
            f"cannot reach the Kubernetes API server at {server} (connection refused)",
            "is the cluster up? check the context (kubectl config current-context) and `kubectl cluster-info`",
        )
    if "Name or service not known" in text or "NameResolution" in text or "nodename nor servname" in text:
        return InstallerError(
            f"cannot resolve the API server's name in {server}",
            "check the server address in your kubeconfig and your DNS/VPN",
        )
    if "timed out" in text.lower() or "Timeout" in text:
        return InstallerError(
            f"the Kubernetes API server at {server} did not answer in time while trying to {what}",
            "check the network path to the cluster (VPN, firewall) and retry",
        )
    return InstallerError(
        f"cannot talk to the Kubernetes API server at {server} while trying to {what}: {exc.__class__.__name__}",
        "check that the cluster is reachable (`kubectl cluster-info`)",
    )


def _short_ssl(text: str) -> str:
    for marker in ("certificate verify failed", "CERTIFICATE_VERIFY_FAILED"):
        if marker in text:
            start = text.find(marker)
            return text[start : start + 80].split("'")[0].split(")")[0]
    return "handshake failed"
