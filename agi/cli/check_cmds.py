"""`grenswacht check`: is this installation ready to protect calls? One line per check.

The configuration is checked by loading it (a bad one never gets this far). Each further check
is one entry of CHECKS: an async function (store, config) -> Result.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agi.ami.client import _Manager, check_action
from agi.cli.common import Subparsers, UsageError, add_command, config_source, journal_problem, open_store
from agi.cli.screening_cmds import open_fastagi
from agi.config import ENV_CONFIG, Config
from agi.recordings import folder_problem
from redis_schema.store import Store


@dataclass(frozen=True)
class Result:
    ok: bool
    text: str


async def redis_reachable(store: Store, config: Config) -> Result:
    return Result(
        True, f"redis: reachable ({await store.server.topology()}), Redis {await store.server.server_version() or '?'}"
    )


async def redis_durability(store: Store, config: Config) -> Result:
    d = await store.server.durability()
    if d.durable:
        return Result(True, f"redis durability ({d.mode}): {d.detail}")
    return Result(False, f"redis durability ({d.mode}): Redis would lose acknowledged incidents on restart. {d.detail}")


async def journal(store: Store, config: Config) -> Result:
    """The write-ahead journal: where it is, that it can be written (else exit 2), and nothing set aside in it."""
    path = Path(config.storage.journal_path)
    problem = journal_problem(config.storage.journal_path)
    if problem is not None:
        raise UsageError(problem)
    poison = path.with_name(path.name + ".poison")
    if poison.exists():
        return Result(False, f"journal: {poison} holds entries set aside as unreadable; look at them, then delete it")
    return Result(True, f"journal: {path} can be written")


async def agi_secret(store: Store, config: Config) -> Result:
    """Without the shared secret, the PBX's address is all a FastAGI request needs."""
    if config.agi.secret:
        return Result(True, "agi secret: set; only requests that show it count towards what calls need")
    wide_open = open_fastagi(config)
    if wide_open:
        return Result(False, f"agi secret: not set, and {wide_open}")
    return Result(
        False,
        "agi secret: not set, so any local user on the PBX (or a peer address) can open enough "
        "connections to make every call go on unscreened (fail-open); set GRENSWACHT_AGI_SECRET "
        "for the service and the dialplan (dialplan/README.md, section 6)",
    )


async def recordings_folder(store: Store, config: Config) -> Result:
    """[recordings]: the folder the service keeps and deletes recordings in (docs/recordings.md)."""
    problem = folder_problem(config.recordings)
    if problem:
        return Result(False, problem)
    return Result(True, f"recordings: {config.recordings.record}, in {config.recordings.folder}")


async def callbacks(store: Store, config: Config) -> Result:
    """Callback appointments: off, or on with the organisation's number to show."""
    cb = config.callbacks
    if not cb.enabled:
        return Result(True, "callbacks: off ([callbacks] enabled = false); the key books nothing")
    if not cb.caller_id:
        return Result(
            False,
            "callbacks: callbacks.caller_id is empty, so a called-back caller sees no number (anonymous) and "
            "may not answer; set it to the organisation's number, or set [callbacks] enabled = false",
        )
    return Result(True, f"callbacks: on, placed from {cb.caller_id} through context {cb.outbound_context!r}")


CHECKS = (redis_reachable, redis_durability, journal, agi_secret, callbacks)


# ---- Asterisk, over AMI ----------------------------------------------------------------------------
AMI_TIMEOUT = 5.0
# The contexts of dialplan/grenswacht-extensions.conf, and what the service's AMI user must be allowed.
CONTEXTS = (
    "grenswacht-screen",
    "grenswacht-agent-key",
    "grenswacht-closing",
    "grenswacht-handover",
    "grenswacht-callback",
    "grenswacht-callback-closing",
    "grenswacht-help-end",  # issue 29: the help key's hang-up handler, and the listen-ins
    "grenswacht-listen",
    "grenswacht-answered",  # issue 28: the answered leg's Gosub, and the after-call codes
    "grenswacht-after-call",
)
# Each AMI action Grenswacht sends (the service, and `check` itself), and the manager.conf write
# permission that allows it; QueueStatus is open to every AMI user. `check` asks Asterisk which of
# them the user may run (ListCommands lists exactly those) and requires all but Command (without
# it: warnings) and, with [callbacks] enabled = false, Originate. Grenswacht logs in with
# Events: off and reads only the answers to its own actions, which no read permission holds back:
# it needs none. The README's manager.conf lines are READ and WRITE (a test holds them equal).
ACTIONS = {
    "QueueStatus": "",  # the cool-down: which queues the agent is in
    "QueuePause": "agent",  # the cool-down
    "UserEvent": "user",  # telling the supervisor
    "Originate": "originate",  # placing callbacks and the console's listen-ins
    "ShowDialPlan": "reporting",  # check: the dialplan contexts and the senior destination
    "Command": "command",  # check: feature codes, Asterisk's sounds folder, channel drivers
}
OPTIONAL = ("Command",)
READ = ""
WRITE = ",".join(dict.fromkeys(perm for perm in ACTIONS.values() if perm))
PROMPTS = (
    "warning",
    "senior",
    "refused",
    "closing",
    "callback-agreed",
    "callback-at",
    "callback-closing",
    "callback-confirm",
    "callback-default",
    "callback-time",
    "callback-today",
    "callback-tomorrow",
    "callback-whisper",
    "unavailable",  # an unscreened call refused (GRENSWACHT_UNSCREENED=refuse)
    "warning-recorded",  # issue 28: the warning when [recordings] is on
    "recorded",  # issue 28: any other caller recorded for their history is told
)
# The agent's tones: the dialplan plays grenswacht/tones/NAME, the folder next to the languages'.
TONES = ("not-logged", "nothing-to-log")
# Asterisk's sound formats besides WAV (format_*.so), by file extension. A .wav must be 8 kHz
# mono 16-bit PCM and a .wav16 the same at 16 kHz: format_wav refuses any other WAV.
# fmt: off
FORMATS = frozenset({
    "gsm", "WAV", "wav49", "ulaw", "ul", "mu", "pcm", "alaw", "al", "alw", "g722", "au", "sln", "raw",
    "sln12", "sln16", "sln24", "sln32", "sln44", "sln48", "sln96", "sln192", "g729", "g723", "g723sf",
    "g726-40", "g726-32", "g726-24", "g726-16", "g719", "ilbc", "ogg", "opus", "spx", "siren7", "siren14", "vox",
})
# fmt: on
WAV_RATES = {"wav": 8000, "wav16": 16000}
DENIED = "Permission denied"


class Ami:
    """One short AMI login for the checks (panoramisk; its log kept off the terminal)."""

    def __init__(self, config: Config):
        self.config = config
        self.where = f"AMI at {config.ami.address}"
        self.may_command = True  # until ListCommands (ami_permissions) says otherwise
        quiet = logging.getLogger("grenswacht.check.ami")
        quiet.propagate, quiet.handlers = False, [logging.NullHandler()]
        host, port = config.ami.host_port
        self.manager = _Manager(
            host=host,
            port=port,
            username=config.ami.username,
            secret=config.ami.secret,
            ping_delay=3600,
            reconnect_timeout=3600,
            log=quiet,
            loop=asyncio.get_running_loop(),
        )

    async def __aenter__(self) -> Ami:
        try:
            async with asyncio.timeout(AMI_TIMEOUT):
                await self.manager.connect()
                while getattr(self.manager, "authenticated_future", None) is not None:
                    await asyncio.sleep(0.05)
        except (OSError, TimeoutError) as exc:
            self.manager.close()
            why = os.strerror(exc.errno) if isinstance(exc, OSError) and exc.errno else "no answer"
            raise UsageError(
                f"{self.where} cannot be reached ({why}); is Asterisk running with the manager enabled on that address?"
            ) from None
        if not getattr(self.manager, "authenticated", False):
            self.manager.close()
            raise UsageError(
                f"{self.where} refused the login of user {self.config.ami.username!r}; check "
                "GRENSWACHT_AMI_SECRET and that user's entry in Asterisk's manager.conf."
            )
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.manager.close()

    async def action(self, fields: dict[str, str]) -> dict[str, Any]:
        """The first message of the response (a list action's opening one)."""
        try:
            async with asyncio.timeout(AMI_TIMEOUT):
                resp = await self.manager.send_action(check_action(fields))
        except TimeoutError:
            raise UsageError(
                f"{self.where} did not answer the {fields['Action']} action within {AMI_TIMEOUT:g} s."
            ) from None
        return dict(resp[0] if isinstance(resp, list) else resp)

    async def command(self, line: str) -> list[str] | None:
        """A CLI command's output lines; None when the user lacks the ``command`` permission."""
        if not self.may_command:
            return None
        resp = await self.action({"Action": "Command", "Command": line})
        if resp.get("Response") == "Error":
            if DENIED in str(resp.get("Message", "")):
                return None
            raise UsageError(f"{self.where} refused the command {line!r} ({resp.get('Message', 'error')}).")
        out = resp.get("Output", [])
        return [out] if isinstance(out, str) else list(out)

    async def has_dialplan(self) -> bool:
        """Whether Asterisk has any dialplan at all (an extensions.conf that failed to load: none)."""
        try:
            async with asyncio.timeout(AMI_TIMEOUT):
                resp = await self.manager.send_action(check_action({"Action": "ShowDialPlan"}), as_list=True)
        except TimeoutError:
            raise UsageError(f"{self.where} did not answer the ShowDialPlan action within {AMI_TIMEOUT:g} s.") from None
        return any(dict(m).get("Event") == "ListDialplan" for m in resp)

    async def has_extension(self, context: str, exten: str | None = None) -> bool:
        fields = {"Action": "ShowDialPlan", "Context": context, **({"Extension": exten} if exten else {})}
        resp = await self.action(fields)
        if resp.get("Response") != "Error":
            return True
        if DENIED in str(resp.get("Message", "")):
            raise UsageError(
                f"AMI user {self.config.ami.username!r} may not read the dialplan; add 'reporting' "
                "to its write permissions in manager.conf."
            )
        return False


def allowed_actions(response: dict[str, Any]) -> set[str]:
    """The actions an AMI user may run, from its ListCommands answer (pure): one header per action,
    ``QueuePause: Makes a queue member temporarily unavailable. (Priv: agent,all)``."""
    return {key for key, value in response.items() if "(Priv:" in str(value)}


def needed_actions(config: Config) -> list[str]:
    """The actions this configuration needs the AMI user to be allowed (pure)."""
    return [a for a in ACTIONS if a not in OPTIONAL and (a != "Originate" or config.callbacks.enabled)]


def feature_codes(lines: list[str]) -> dict[str, str]:
    """Dynamic feature name -> its current code, from `features show` (pure)."""
    out, dynamic = {}, False
    for line in lines:
        if line.startswith("Dynamic Feature"):
            dynamic = True
        elif dynamic and line.startswith("Feature Groups"):
            break
        elif dynamic and line.strip() and not line.startswith("-"):
            parts = line.split()
            out[parts[0]] = parts[-1] if len(parts) >= 3 else ""
    return out


def feature_problems(config: Config, codes: dict[str, str]) -> list[str]:
    """Each configured key whose applicationmap entry is missing or differs (pure)."""
    f = config.features
    want = [
        ("grenswacht-endlog", f.endlog, "features.endlog"),
        ("grenswacht-handover", f.handover, "features.handover"),
        *([("grenswacht-callback", config.callbacks.key, "callbacks.key")] if config.callbacks.enabled else []),
        ("grenswacht-help", config.help.key, "help.key"),  # issue 29
        ("grenswacht-quieter", config.help.quieter_key, "help.quieter_key"),
    ]
    problems = [
        f"{setting} is {code} but the feature {name} is {codes.get(name) or 'not defined'}"
        for name, code, setting in want
        if codes.get(name) != code
    ]
    endlogs = {c for n, c in codes.items() if n.startswith("grenswacht-endlog-")}
    problems += [
        f"features.extra {code} has no grenswacht-endlog-* feature with that code"
        for code in f.extra
        if code not in endlogs
    ]
    return problems


def unplayable(path: Path) -> str | None:
    """Why Asterisk cannot play this sound file, or None."""
    ext = path.suffix[1:]
    if ext in WAV_RATES:
        rate = WAV_RATES[ext]
        try:
            with wave.open(str(path), "rb") as w:
                fine = (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (rate, 1, 2) and w.getnframes() > 0
        except (OSError, EOFError, wave.Error):
            fine = False
        return None if fine else f"{path.name} is not {rate // 1000} kHz mono 16-bit PCM"
    if ext not in FORMATS:
        return f"Asterisk plays no .{ext} file"
    try:
        return None if path.stat().st_size > 0 else f"{path.name} is empty"
    except OSError:
        return f"{path.name} cannot be read"


def missing_prompts(folder: Path, names: tuple[str, ...] = PROMPTS) -> list[str]:
    """Each of NAMES that FOLDER holds in no format Asterisk plays: the name, and why its files are no use."""
    files: dict[str, list[Path]] = {}
    try:
        for path in folder.iterdir():
            files.setdefault(path.stem, []).append(path)
    except OSError:  # absent, not a folder, or not readable by this user
        pass
    missing = []
    for name in names:
        why = [unplayable(path) for path in sorted(files.get(name, []))]
        if not why or all(why):
            missing.append(f"{name} ({'; '.join(filter(None, why))})" if why else name)
    return missing


async def ami_login(ami: Ami, config: Config, args: argparse.Namespace) -> Result:
    resp = await ami.action({"Action": "CoreSettings"})
    version = resp.get("AsteriskVersion", "?") if resp.get("Response") == "Success" else "?"
    return Result(True, f"ami: logged in to {config.ami.address} as {config.ami.username!r}, Asterisk {version}")


async def ami_permissions(ami: Ami, config: Config, args: argparse.Namespace) -> Result:
    resp = await ami.action({"Action": "ListCommands"})
    if resp.get("Response") != "Success":
        raise UsageError(
            f"{ami.where} did not list the actions user {config.ami.username!r} may run ({resp.get('Message', 'error')})."
        )
    allowed = allowed_actions(resp)
    missing = [a for a in needed_actions(config) if a not in allowed]
    if missing:
        perms = ",".join(dict.fromkeys(ACTIONS[a] for a in missing if ACTIONS[a]))
        raise UsageError(
            f"AMI user {config.ami.username!r} may not run {', '.join(missing)}; add '{perms}' to its write "
            f"permissions in manager.conf (write = {WRITE}) and run 'manager reload'."
        )
    ami.may_command = "Command" in allowed
    if not ami.may_command:
        return Result(
            False,
            f"ami permissions: user {config.ami.username!r} may not run Command (write permission 'command'), "
            "so the feature codes, the sounds folder and the senior's channel driver cannot be checked",
        )
    return Result(
        True, f"ami permissions: user {config.ami.username!r} may run {', '.join(a for a in ACTIONS if a in allowed)}"
    )


async def dialplan_contexts(ami: Ami, config: Config, args: argparse.Namespace) -> Result:
    contexts = (*CONTEXTS, *([config.callbacks.outbound_context] if config.callbacks.enabled else []))
    for context in contexts:
        if not await ami.has_extension(context):
            if context == CONTEXTS[0] and not await ami.has_dialplan():
                raise UsageError(
                    "the dialplan on Asterisk is empty, the PBX's own routes included, so extensions.conf "
                    "did not load: look for an ERROR in Asterisk's log (an #include of a file that does not "
                    "exist drops all of it; dialplan/README.md, section 2, uses #tryinclude for the optional "
                    "secret.conf), fix it and run 'dialplan reload'."
                )
            raise UsageError(
                f"the dialplan on Asterisk has no context {context!r}; include "
                "grenswacht-extensions.conf in extensions.conf (see dialplan/README.md) and run "
                "'dialplan reload'."
                if context in CONTEXTS
                else f"the dialplan on Asterisk has no context {context!r}, which callbacks.outbound_context "
                "names; add it (see dialplan/README.md, section 7) and run 'dialplan reload', or switch "
                "callbacks off with [callbacks] enabled = false."
            )
    return Result(True, f"dialplan: the {len(contexts)} contexts are loaded ({', '.join(contexts)})")


async def features(ami: Ami, config: Config, args: argparse.Namespace) -> Result:
    lines = await ami.command("features show")
    if lines is None:
        return Result(False, "feature codes: not checked (the AMI user lacks the 'command' write permission)")
    problems = feature_problems(config, feature_codes(lines))
    if problems:
        raise UsageError(
            f"the feature codes on Asterisk differ from the configuration: {'; '.join(problems)} "
            "(see dialplan/grenswacht-applicationmap.conf, then 'module reload features')."
        )
    codes = [config.features.endlog, config.features.handover, *config.features.extra]
    codes += [config.callbacks.key] if config.callbacks.enabled else []
    return Result(True, f"feature codes: {', '.join(codes)} match the applicationmap on Asterisk")


async def sounds_folder(ami: Ami | None, config: Config, args: argparse.Namespace) -> Path | None:
    prompts = config.prompts
    if Path(prompts.path).is_absolute():
        return Path(prompts.path) / prompts.language
    if args.sounds_dir:
        return Path(args.sounds_dir) / prompts.path / prompts.language
    lines = await ami.command("core show settings") if ami is not None else None
    data = next(
        (line.split(":", 1)[1].strip() for line in lines or () if line.strip().startswith("Data directory:")), None
    )
    return Path(data) / "sounds" / prompts.path / prompts.language if data else None


async def prompt_files(ami: Ami | None, config: Config, args: argparse.Namespace) -> Result:
    folder = await sounds_folder(ami, config, args)
    if folder is None:
        return Result(False, "prompts: not checked (Asterisk's sounds folder is unknown: give --sounds-dir)")
    tones = folder.parent / "tones"
    missing, missing_tones = missing_prompts(folder), missing_prompts(tones, TONES)
    if missing or missing_tones:
        lacks = [f"the prompts folder {folder} lacks {', '.join(missing)}"] if missing else []
        lacks += [f"the tones folder {tones} lacks {', '.join(missing_tones)}"] if missing_tones else []
        raise UsageError(
            f"{', and '.join(lacks)}; copy dialplan/sounds/{config.prompts.language} and dialplan/sounds/tones "
            "there (see dialplan/README.md), or give --sounds-dir if Asterisk's sounds are elsewhere on this machine."
        )
    return Result(True, f"prompts: all {len(PROMPTS)} in {folder}, and the {len(TONES)} tones in {tones}")


async def senior_destination(ami: Ami, config: Config, args: argparse.Namespace) -> Result:
    dest = config.routing.senior_destination
    if not dest:
        return Result(True, "senior destination: none set (the senior rung shows [GW n] and takes the normal route)")
    tech, _, rest = dest.partition("/")
    if tech.lower() == "local":
        exten, _, context = rest.partition("@")
        context = context.split("/", 1)[0]
        if not context or not await ami.has_extension(context, exten):
            raise UsageError(
                f"routing.senior_destination {dest}: Asterisk's dialplan has no extension {exten!r} in "
                f"context {context!r}."
            )
        return Result(True, f"senior destination: {dest} exists in the dialplan")
    lines = await ami.command("core show channeltypes")
    if lines is None:
        return Result(False, f"senior destination: {dest} not checked (the AMI user lacks the 'command' permission)")
    if not any(line.split()[:1] == [tech] for line in lines):
        raise UsageError(f"routing.senior_destination {dest}: Asterisk has no channel driver {tech!r} loaded.")
    return Result(True, f"senior destination: {dest} (channel driver {tech} is loaded)")


ASTERISK_CHECKS = (ami_login, ami_permissions, dialplan_contexts, features, prompt_files, senior_destination)


def show(result: Result) -> Result:
    print(f"{'ok' if result.ok else 'WARNING':<7}  {result.text}", flush=True)
    return result


async def asterisk_checks(config: Config, args: argparse.Namespace) -> list[Result]:
    if not config.ami.secret:
        results = [
            show(
                Result(
                    False,
                    "ami: not configured (set GRENSWACHT_AMI_SECRET), so there are no cool-down "
                    "pauses or callbacks, and the dialplan, feature codes and senior destination "
                    "on Asterisk are not checked",
                )
            )
        ]
        if Path(config.prompts.path).is_absolute() or args.sounds_dir:
            results.append(show(await prompt_files(None, config, args)))
        return results
    async with Ami(config) as ami:
        return [show(await check(ami, config, args)) for check in ASTERISK_CHECKS]


async def check_cmd(args: argparse.Namespace, config: Config) -> int:
    source = config_source(args)
    problem = config.fd_problem()
    if problem is not None:  # `serve` would refuse to start: as an error here too
        raise UsageError(problem)
    results = [
        show(
            Result(True, f"config: {source} is valid")
            if source
            else Result(
                True,
                f"config: no file given (neither --config nor {ENV_CONFIG}), so the built-in defaults are checked",
            )
        )
    ]
    # An unreachable Redis ends here: main reports it in one sentence, with exit code 2.
    async with open_store(config) as store:
        for check in CHECKS:
            results.append(show(await check(store, config)))
        if config.recordings.record != "off":  # [recordings] on: its folder must be usable
            results.append(show(await recordings_folder(store, config)))
    # The first failure on Asterisk's side ends here too (UsageError: one sentence, exit code 2).
    results += await asterisk_checks(config, args)
    warnings = sum(not r.ok for r in results)
    print(f"{len(results)} checks, {warnings} warning(s).")
    if warnings and args.strict:
        raise UsageError(f"{warnings} check(s) gave a warning, and --strict makes that an error.")
    return 0


def register(sub: Subparsers) -> None:
    p = add_command(
        sub,
        "check",
        "check the configuration, Redis, AMI, the dialplan, feature codes, prompts and "
        "senior destination on Asterisk, one line each",
        check_cmd,
    )
    p.add_argument("--strict", action="store_true", help="exit with code 2 when any check gives a warning")
    p.add_argument(
        "--sounds-dir",
        help="Asterisk's sounds folder as seen from here, when it is not the one "
        "Asterisk reports (a chroot or a container)",
    )
