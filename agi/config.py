"""Configuration: one TOML file, loaded once at start into a frozen, validated object.

Secrets never live in the file: the Redis password and the AMI secret come from the
environment (``GRENSWACHT_REDIS_PASSWORD``, ``GRENSWACHT_AMI_SECRET``) or from a file named
by ``*_FILE`` variants of those variables. A bad file or key raises :class:`ConfigError`
with one sentence that names the key and the problem.
"""

from __future__ import annotations

import ipaddress
import os
import re
import resource
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import phonenumbers
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

ENV_CONFIG = "GRENSWACHT_CONFIG"
Action = Literal["allow", "warn", "senior", "refuse"]
# Banning or allowlisting a number range with fewer digits than this after the country code
# (+31 is a whole country, +3120 a city) needs a confirmation (`--yes`, the console's tick box).
DEFAULT_MIN_PREFIX_DIGITS = 3
# Descriptors a process needs besides its connections: listening sockets, AMI, journal, logs.
FD_HEADROOM = 64


class ConfigError(Exception):
    """The configuration cannot be used; the message is one sentence for the operator."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def split_host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"must look like HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def _host_port(value: str) -> str:
    """HOST:PORT with a port from 1 to 65535."""
    if split_host_port(value)[1] == 0:
        raise ValueError(f"the port of {value!r} must be from 1 to 65535")
    return value


def _listen(value: str, info: ValidationInfo) -> str:
    """An address to listen on. Port 0 (any free port, which the dialplan could not know) only
    when the caller asks for it in the validation context (``ephemeral_ports``: tests)."""
    if (info.context or {}).get("ephemeral_ports"):
        return split_host_port(value) and value
    return _host_port(value)


def _plain(value: str) -> str:
    """A value the dialplan substitutes into an application argument as it is."""
    if not value or any(c in value for c in ",\r\n\"'()|$[]{};=\\` "):
        raise ValueError("must be plain text without spaces, commas, quotes, $ or brackets")
    return value


def _optional_listen(value: str, info: ValidationInfo) -> str:
    return _listen(value, info) if value else value


def fd_limit() -> int | None:
    """The descriptors this process may open once the service raised its soft limit to the hard
    one (agi.fastagi.server.raise_fd_limit); None when unlimited."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return None if hard == resource.RLIM_INFINITY else hard


HostPort = Annotated[str, AfterValidator(_host_port)]
Listen = Annotated[str, AfterValidator(_listen)]
Plain = Annotated[str, AfterValidator(_plain)]


class RedisConfig(_Frozen):
    # standalone: `url` is the server; sentinel: `sentinels` find the primary of `service_name`
    # (`url` then only gives the database and TLS); cluster: `url` names one seed node, and
    # `nodes` more of them, tried in turn when the service starts while a seed is down.
    mode: Literal["standalone", "sentinel", "cluster"] = "standalone"
    url: str = "redis://127.0.0.1:6379/0"
    sentinels: tuple[HostPort, ...] = ()
    nodes: tuple[HostPort, ...] = ()
    service_name: Plain = "grenswacht"
    max_connections: int = Field(64, ge=1, le=10_000)
    # How long a screening waits for a free pooled connection before failing open.
    pool_timeout: float = Field(1.0, gt=0, le=60)
    password: str | None = Field(None, exclude=True, repr=False)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        if "@" in value.split("//", 1)[1].split("/", 1)[0]:
            raise ValueError("must not carry a password; set GRENSWACHT_REDIS_PASSWORD instead")
        return value

    @model_validator(mode="after")
    def _mode(self) -> RedisConfig:
        if self.mode == "sentinel" and not self.sentinels:
            raise ValueError('mode "sentinel" needs sentinels = ["host:port", ...]')
        if self.mode != "sentinel" and self.sentinels:
            raise ValueError(f'sentinels are only used with mode = "sentinel", not {self.mode!r}')
        if self.mode != "cluster" and self.nodes:
            raise ValueError(f'nodes are only used with mode = "cluster", not {self.mode!r}')
        if self.mode == "cluster" and (
            self.url.startswith("unix://") or urlsplit(self.url).path.strip("/") not in ("", "0")
        ):
            raise ValueError('mode "cluster" needs a redis:// or rediss:// url of one node, on database 0')
        return self


def _network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address or network (e.g. 127.0.0.1/32, 10.1.2.0/24)") from None


Network = Annotated[str, AfterValidator(_network)]


def _time_zone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not a time zone (e.g. Europe/Amsterdam)") from None
    return value


TimeZone = Annotated[str, AfterValidator(_time_zone)]
HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")  # a local time of day


class AgiConfig(_Frozen):
    listen: Listen = "127.0.0.1:4573"
    # Who may speak FastAGI: the PBX's addresses or networks. Anyone else is closed at once.
    peers: tuple[Network, ...] = ("127.0.0.1/32", "::1/128")
    # Optional shared secret the dialplan passes with each request (GRENSWACHT_AGI_SECRET[_FILE]).
    # It travels in the AGI URL, so only URL-safe characters: e.g. `openssl rand -hex 24`.
    secret: str | None = Field(None, exclude=True, repr=False)
    max_header_bytes: int = Field(16_384, ge=1024, le=1_048_576)
    # Counted from the moment the connection is accepted.
    header_timeout: float = Field(2.0, gt=0, le=60)
    command_timeout: float = Field(10.0, gt=0, le=600)
    # Budget for the store read during screening; slower means fail open.
    screen_budget_ms: int = Field(100, ge=1, le=10_000)
    max_connections: int = Field(1000, ge=1, le=100_000)
    # Connections at once from one peer address (a PBX's burst of calls fits well below this).
    max_per_peer: int = Field(500, ge=1, le=100_000)
    # How long a new connection may wait for a free slot before it is answered fail-open.
    slot_wait_ms: int = Field(50, ge=0, le=5_000)
    # With a secret: connections that have not shown it yet (their header not complete), kept
    # apart from what calls need; when full, the oldest of them is closed to make room. Larger
    # than one burst the loop accepts before it reads a header (the kernel's queue: 4,096).
    max_unauthenticated: int = Field(10_000, ge=64, le=100_000)
    # Worker processes on the one listening port (agi.workers); 1 is a single process.
    workers: int = Field(1, ge=1, le=64)
    # The service's event loop: asyncio's own, uvloop's, or "auto" (see ``loop``; the trade-off
    # is measured in docs/benchmarks.md).
    event_loop: Literal["auto", "asyncio", "uvloop"] = "auto"

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_.~-]{16,256}", value):
            raise ValueError(
                "must be 16 to 256 letters, digits, '-', '_', '.' or '~', since it travels in the "
                "AGI URL (make one with: openssl rand -hex 24)"
            )
        return value

    @property
    def loop(self) -> str:
        """The event loop to run. "auto": asyncio's own in a single process, uvloop's in worker
        processes. asyncio's took less CPU per call when many calls share a loop turn (one process
        at capacity), uvloop's when fewer do (the load spread over workers, or calls one at a time)."""
        if self.event_loop != "auto":
            return self.event_loop
        return "asyncio" if self.workers == 1 else "uvloop"

    @property
    def host_port(self) -> tuple[str, int]:
        return split_host_port(self.listen)


class NumbersConfig(_Frozen):
    default_region: str = "NL"
    mask_in_logs: bool = True
    # Digits after the country code a banned or allowlisted number range needs before it is set
    # without a confirmation (`--yes`); +31 has 0, +3120 has 2, +31201 has 3.
    min_prefix_digits: int = Field(DEFAULT_MIN_PREFIX_DIGITS, ge=0, le=12)

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str) -> str:
        value = value.upper()
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a region phonenumbers knows (e.g. NL, BE, DE)")
        return value


MAX_WEIGHT = 100  # an incident's weight, 0 to this
MAX_THRESHOLD = 10_000  # a rung's score


class ProtocolConfig(_Frozen):
    """One screening protocol; the default one follows the seed texts."""

    window_days: int = Field(180, ge=1, le=3650)
    weights: Mapping[str, int] = Field(
        default_factory=lambda: {"abuse": 1, "intimidation": 2, "threat": 3, "handover": 0, "callback": 0}
    )
    warn_at: int = Field(1, ge=1, le=MAX_THRESHOLD)
    senior_at: int = Field(2, ge=1, le=MAX_THRESHOLD)
    refuse_at: int = Field(3, ge=1, le=MAX_THRESHOLD)
    ban_days: int = Field(90, ge=0, le=3650)
    anonymous: Action = "allow"
    # The rung from which a caller is due a written warning (see `grenswacht warnings`).
    written_warning_at: Action = "senior"

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: Mapping[str, int]) -> Mapping[str, int]:
        for name, weight in value.items():
            if not name.isidentifier() or not 0 <= weight <= MAX_WEIGHT:
                raise ValueError(f"weight {name!r} must be a plain name with a weight >= 0 and <= {MAX_WEIGHT}")
        return dict(value)

    @model_validator(mode="after")
    def _ladder(self) -> ProtocolConfig:
        if not self.warn_at <= self.senior_at <= self.refuse_at:
            raise ValueError("thresholds must satisfy warn_at <= senior_at <= refuse_at")
        return self


class PromptsConfig(_Frozen):
    language: Literal["nl", "en"] = "nl"
    # Relative to Asterisk's sounds directory (or absolute); prompts live in <path>/<language>/.
    path: Plain = "grenswacht"


class RoutingConfig(_Frozen):
    # A Dial() destination for the senior colleague, e.g. "PJSIP/senior" or "Local/senior@queues".
    # Empty (the default): the senior rung plays the senior prompt and shows "[GW n] Name", then
    # the call takes the normal route. A senior who does not answer also means the normal route.
    senior_destination: Annotated[str, AfterValidator(lambda v: v and _plain(v))] = ""


class AmiConfig(_Frozen):
    address: HostPort = "127.0.0.1:5038"
    username: str = "grenswacht"
    secret: str | None = Field(None, exclude=True, repr=False)
    reconnect_max_seconds: float = Field(30.0, gt=0, le=3600)

    @property
    def host_port(self) -> tuple[str, int]:
        return split_host_port(self.address)


def webhook_allowed(url: str) -> bool:
    """An http or https URL with a host: the only webhooks posted (no file:, ftp: or data:)."""
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a bad port or IPv6 literal
        return False


class AftercareConfig(_Frozen):
    cooldown_seconds: int = Field(300, ge=0, le=86_400)
    webhook_url: str | None = None
    webhook_attempts: int = Field(5, ge=1, le=50)

    @field_validator("webhook_url")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        if value is not None and not webhook_allowed(value):
            raise ValueError(f"{value[:80]!r} must be an http:// or https:// URL with a host")
        return value


class FeatureCodesConfig(_Frozen):
    """Agent DTMF codes; the dialplan/applicationmap must match (see dialplan/README)."""

    endlog: str = "*0"
    endlog_category: str = "abuse"
    handover: str = "*8"
    extra: Mapping[str, str] = Field(default_factory=lambda: {"*9": "threat"})
    # After-call codes: dialled by the agent from their own phone after the call ended, they log
    # the last caller the agent was bridged with ([recordings] window_minutes; dialplan/README, 9).
    after_call: Mapping[str, str] = Field(default_factory=lambda: {"*00": "abuse", "*09": "threat"})


class HelpConfig(_Frozen):
    """Issue 29: the agent's help key and the quieter key (keep them in step with the applicationmap)."""

    key: str = "*2"
    # A help request is dropped after this long even if no hang-up removed it (a safety net).
    max_call_minutes: int = Field(240, ge=5, le=24 * 60)
    quieter_key: str = "*4"
    # How much quieter the caller sounds to the agent after the quieter key (a second press restores it).
    quieter_db: float = Field(10.0, gt=0, le=40)
    # The rungs whose callers reach the agent with "[GW n] Name" as caller ID name (n: incidents in
    # the window), so the agent knows before saying hello. The senior rung always shows it.
    history_rungs: tuple[Literal["allow", "warn", "senior"], ...] = ("warn", "senior")
    # Help requests go to the same places as incidents: UserEvent, event stream, [aftercare] webhook_url.


class CallbacksConfig(_Frozen):
    """Callback appointments (issue 11): the agent's key, the rules, and how the PBX places them."""

    key: str = "*7"
    # The incident the key logs; its weight is [protocols.*.weights] callback (0 by default).
    category: str = "callback"
    timezone: TimeZone = "Europe/Amsterdam"
    # Local working hours "HH:MM"; a callback is never placed outside them.
    opens: str = "08:30"
    closes: str = "17:00"
    # Weekdays without callbacks (mon..sun) and closed dates (YYYY-MM-DD, holidays).
    closed_days: tuple[str, ...] = ("sat", "sun")
    closed_dates: tuple[str, ...] = ()
    # A time keyed that is within this many minutes (or already past today) means the next working day.
    margin_minutes: int = Field(15, ge=0, le=24 * 60)
    # No time keyed: "same-time" (next working day at the time of the call) or a fixed "HH:MM".
    default: str = "same-time"
    retry_minutes: int = Field(15, ge=1, le=24 * 60)
    attempts: int = Field(3, ge=1, le=20)
    agent_ring_seconds: int = Field(20, ge=5, le=300)
    caller_ring_seconds: int = Field(30, ge=5, le=300)
    # Dial() destination when the agent does not answer, e.g. "Local/support@queues" (empty: retry later).
    fallback: Annotated[str, AfterValidator(lambda v: v and _plain(v))] = ""
    # Dialplan context that dials the caller's number as its extension (dialplan/README.md).
    outbound_context: Plain = "grenswacht-callback-out"
    # Caller ID the called-back caller sees: the organisation's number.
    caller_id: str = ""
    # A callback that fell due while no instance ran is still placed up to this long after its time.
    grace_minutes: int = Field(30, ge=0, le=24 * 60)
    # Off: the key books nothing (the agent hears the two low tones), nothing is placed, and
    # `grenswacht check` does not ask for the outbound context, caller_id or AMI Originate.
    enabled: bool = True

    @field_validator("opens", "closes")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not HHMM.fullmatch(value):
            raise ValueError(f"{value!r} must be a time of day HH:MM")
        return value

    @field_validator("default")
    @classmethod
    def _default(cls, value: str) -> str:
        if value != "same-time" and not HHMM.fullmatch(value):
            raise ValueError(f"{value!r} must be 'same-time' or a time of day HH:MM")
        return value

    @field_validator("closed_days")
    @classmethod
    def _days(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        out = tuple(v.lower()[:3] for v in value)
        if any(v not in days for v in out) or len(set(out)) == 7:
            raise ValueError("must be weekday names (mon..sun), and at least one day must stay open")
        return out

    @field_validator("closed_dates")
    @classmethod
    def _dates(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from datetime import date

        for v in value:
            try:
                date.fromisoformat(v)
            except ValueError:
                raise ValueError(f"{v!r} is not a date YYYY-MM-DD") from None
        return value

    @field_validator("caller_id")
    @classmethod
    def _cid(cls, value: str) -> str:
        if value and not re.fullmatch(r"\+?[0-9]{2,20}", value):
            raise ValueError("must be a phone number of digits, with an optional leading +")
        return value

    @model_validator(mode="after")
    def _hours(self) -> CallbacksConfig:
        if self.opens >= self.closes:
            raise ValueError("callbacks: opens must be before closes")
        return self


class WebConfig(_Frozen):
    """The supervisor console (`grenswacht web`, console/)."""

    listen: Listen = "127.0.0.1:8080"
    timezone: str = "Europe/Amsterdam"  # times are shown in this zone; the store keeps UTC
    language: Literal["nl", "en"] = "nl"  # default; each user can switch
    session_idle_minutes: int = Field(30, ge=1, le=24 * 60)
    # Mark the session cookie Secure (set when a TLS reverse proxy fronts the console).
    secure_cookies: bool = False
    # Addresses of that reverse proxy, whose X-Forwarded-For/-Proto headers are believed.
    trusted_proxies: str = "127.0.0.1"
    # Failed logins per user name (and per address) before logins are refused for lockout_minutes.
    max_failed_logins: int = Field(5, ge=1, le=100)
    lockout_minutes: int = Field(15, ge=1, le=24 * 60)
    # Directory with letter templates (letter_nl.html, letter_en.html) replacing the built-in ones.
    letter_templates: str = ""
    # Failed logins from one address for any account, and for one account from any address, before
    # that address or account is refused too (max_failed_logins counts one account from one
    # address): high enough that a team behind one NAT address and a guesser elsewhere do not
    # lock everyone out; an admin lifts a lockout with `grenswacht users unlock` or on /admin.
    max_failed_logins_per_address: int = Field(30, ge=1, le=10_000)
    max_failed_logins_per_account: int = Field(50, ge=1, le=10_000)
    # Serve HTTPS directly (uvicorn's TLS): a PEM certificate chain and its key (0600); empty: HTTP.
    tls_certificate: str = ""
    tls_key: str = ""
    # Issue 30: a TOTP second factor for admins: "optional" (each user may enrol on /security) or
    # "required" (an admin without one can open only /security until enrolled). Needs the web secret.
    admin_totp: Literal["optional", "required"] = "optional"
    # Signs session cookies: from GRENSWACHT_WEB_SECRET(_FILE); none = a random one per start (logged).
    secret: str | None = Field(None, exclude=True, repr=False)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone (e.g. Europe/Amsterdam)") from None
        return value

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 32:
            raise ValueError("GRENSWACHT_WEB_SECRET must be at least 32 characters")
        return value


class MetricsConfig(_Frozen):
    """Prometheus /metrics and the /healthz, /readyz endpoints (agi.metrics); empty: off."""

    listen: Annotated[str, AfterValidator(_optional_listen)] = ""


class StorageConfig(_Frozen):
    retention_days: int = Field(365, ge=1, le=3650)
    # Write-ahead journal (0600): every incident is here, fsynced, before the agent is told
    # "logged", and stays until Redis holds it on disk and its after-care is done.
    journal_path: str = "/var/lib/grenswacht/journal.jsonl"
    # When Redis cannot confirm an incident is on disk (no AOF with appendfsync always and no
    # WAITAOF), keep it this long and store it again whenever Redis restarts.
    unconfirmed_keep_hours: int = Field(72, ge=1, le=24 * 90)


class RecordingsConfig(_Frozen):
    """Recordings of answered calls, kept only with an incident (docs/recordings.md)."""

    # off (the default) | flagged (callers with a score of 1 or more, or a ban) | all
    record: Literal["off", "flagged", "all"] = "off"
    # Where MixMonitor writes, as this service sees the folder (mode 0700; personal data).
    folder: str = "/var/spool/asterisk/grenswacht"
    # The same folder as Asterisk sees it (a shared folder mounted elsewhere); "": the same path.
    asterisk_folder: str = ""
    keep_days: int = Field(90, ge=1, le=3650)
    # Not logged within this long after the call ended: the recording is deleted. Also how long
    # the after-call codes ([features] after_call) can still log the call.
    window_minutes: int = Field(10, ge=1, le=24 * 60)

    @field_validator("folder", "asterisk_folder")
    @classmethod
    def _folder(cls, value: str) -> str:
        if value and (not value.startswith("/") or any(c in value for c in ",\r\n\"'()|$[]{};=\\` ")):
            raise ValueError("must be an absolute path without spaces, commas, quotes, $ or brackets")
        return value.rstrip("/") or value

    @property
    def dialplan_folder(self) -> str:
        return self.asterisk_folder or self.folder


class OrganisationConfig(_Frozen):
    """Who reports to the police (the report's letterhead): never an agent's own address."""

    name: str = ""
    address: str = ""
    contact: str = ""  # the contact person and how to reach them


class Config(_Frozen):
    redis: RedisConfig = RedisConfig()
    agi: AgiConfig = AgiConfig()
    numbers: NumbersConfig = NumbersConfig()
    protocols: Mapping[str, ProtocolConfig] = Field(default_factory=lambda: {"default": ProtocolConfig()})
    # Dialled number (DID) -> protocol name; unlisted DIDs use "default".
    dids: Mapping[str, str] = Field(default_factory=dict)
    prompts: PromptsConfig = PromptsConfig()
    routing: RoutingConfig = RoutingConfig()
    ami: AmiConfig = AmiConfig()
    aftercare: AftercareConfig = AftercareConfig()
    features: FeatureCodesConfig = FeatureCodesConfig()
    storage: StorageConfig = StorageConfig()
    callbacks: CallbacksConfig = CallbacksConfig()
    metrics: MetricsConfig = MetricsConfig()
    web: WebConfig = WebConfig()
    recordings: RecordingsConfig = RecordingsConfig()
    organisation: OrganisationConfig = OrganisationConfig()
    help: HelpConfig = HelpConfig()  # issue 29

    @model_validator(mode="after")
    def _protocol_refs(self) -> Config:
        if "default" not in self.protocols:
            raise ValueError("protocols: a protocol named 'default' is required")
        for did, name in self.dids.items():
            if name not in self.protocols:
                raise ValueError(f"dids.{did}: names protocol {name!r}, which is not defined")
        named = [
            ("features.endlog_category", self.features.endlog_category),
            *((f"features.extra.{code}", category) for code, category in self.features.extra.items()),
            *((f"features.after_call.{code}", category) for code, category in self.features.after_call.items()),
            ("callbacks.category", self.callbacks.category),
        ]
        for key, category in named:
            for name, protocol in self.protocols.items():
                if category not in protocol.weights:
                    raise ValueError(
                        f"{key}: names category {category!r}, which is not in [protocols.{name}.weights] "
                        f"({', '.join(protocol.weights)})"
                    )
        return self

    def fd_problem(self) -> str | None:
        """Why this process cannot hold the connections configured (``serve`` and ``check`` ask;
        the other commands open a handful of descriptors and need not), or None."""
        limit, need = fd_limit(), self.agi.max_connections + self.redis.max_connections + FD_HEADROOM
        if limit is None or need <= limit:
            return None
        return (
            f"agi.max_connections: {self.agi.max_connections} connections, with redis.max_connections "
            f"{self.redis.max_connections} and {FD_HEADROOM} more, need {need} file descriptors, but this "
            f"process may open {limit} (RLIMIT_NOFILE); lower it, or raise the limit (LimitNOFILE= in "
            "the systemd unit, ulimit -n)."
        )

    def protocol_for(self, did: str | None) -> tuple[str, ProtocolConfig]:
        name = self.dids.get(did or "", "default")
        return name, self.protocols[name]


# The settings that come only from the environment: (section, key, variable; or variable_FILE).
SECRETS = (
    ("redis", "password", "GRENSWACHT_REDIS_PASSWORD"),
    ("ami", "secret", "GRENSWACHT_AMI_SECRET"),
    ("agi", "secret", "GRENSWACHT_AGI_SECRET"),
    ("web", "secret", "GRENSWACHT_WEB_SECRET"),
)


def _secret(env: Mapping[str, str], name: str) -> str | None:
    if env.get(name):
        return env[name]
    path = env.get(name + "_FILE")
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE: cannot read {path!r} ({exc.strerror}).") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{name}_FILE: {path!r} is not UTF-8 text.") from None
        if not value:  # e.g. the empty file deploy/install.sh leaves: never "no secret" without a word
            raise ConfigError(f"{name}_FILE: {path!r} is empty; put the secret in it, or unset {name}_FILE.")
        return value
    return None


def _describe(exc: ValidationError) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "is not a known setting"
    return f"{key}: {msg}." if key else f"{msg}."  # a check across sections names its keys itself


def load_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Load and validate the configuration; raise ConfigError with one sentence on any problem."""
    env = os.environ if env is None else env
    path = path or env.get(ENV_CONFIG)
    data: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"config file {str(path)!r} does not exist.") from None
        except OSError as exc:
            raise ConfigError(f"config file {str(path)!r} cannot be read ({exc.strerror}).") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {str(path)!r} is not valid TOML ({exc}).") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"config file {str(path)!r} is not UTF-8 text (byte {exc.start}).") from None
    for section, key, var in SECRETS:
        table = data.get(section)
        if isinstance(table, dict) and key in table:
            raise ConfigError(f"{section}.{key}: secrets do not belong in the file; set {var} or {var}_FILE.")
        value = _secret(env, var)
        if value is not None and (table is None or isinstance(table, dict)):
            data.setdefault(section, {})[key] = value
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
