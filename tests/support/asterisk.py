"""Run a real Asterisk 22 (from the root scripts/provision-asterisk builds) with a private config.

The configuration includes the project's dialplan/ files exactly as dialplan/README.md tells an
administrator: copied to <etc>/grenswacht/, ``#include``d from extensions.conf and, under
[applicationmap], from features.conf; prompts copied into the sounds folder. Everything listens
on loopback only. Used by the end-to-end tests, the demo and the benchmark.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from panoramisk import Manager

from tests.support.redis_server import free_port

REPO = Path(__file__).resolve().parents[2]
DEFAULT_ROOT = os.environ.get("GRENSWACHT_ASTERISK_ROOT", "/var/cache/grenswacht/asterisk-root")

MODULES = """
[modules]
autoload = no
load = res_timing_timerfd.so
load = pbx_config.so
load = res_speech.so
load = res_agi.so
load = res_musiconhold.so
load = app_stack.so
load = app_dial.so
load = app_queue.so
load = app_playback.so
load = app_read.so
load = app_sayunixtime.so
load = app_senddtmf.so
load = app_channelredirect.so
load = app_exec.so
load = app_verbose.so
load = app_userevent.so
load = app_echo.so
load = bridge_simple.so
load = bridge_softmix.so
load = bridge_holding.so
load = bridge_builtin_features.so
load = bridge_builtin_interval_features.so
load = codec_ulaw.so
load = codec_alaw.so
load = codec_gsm.so
load = codec_resample.so
load = format_wav.so
load = format_gsm.so
load = format_pcm.so
load = format_sln.so
load = func_callerid.so
load = func_channel.so
load = func_logic.so
load = func_strings.so
load = func_cut.so
load = func_global.so
load = func_export.so
load = func_cdr.so
load = app_mixmonitor.so
load = app_playtones.so
load = func_volume.so
load = app_chanspy.so
load = app_originate.so
"""

# The administrator's own part of extensions.conf in the tests: an inbound route that calls the
# screening Gosub, a queue of agents, a senior colleague, and a simulated caller.
TEST_DIALPLAN = """
[inbound]
exten => _X.,1,Gosub(grenswacht-screen,s,1(${EXTEN}))
 same => n,Queue(support,r,,,60)
 same => n,Hangup()

[unscreened]
exten => _X.,1,Queue(support,r,,,60)
 same => n,Hangup()

[agents]
exten => _X.,1,ExecIf($["${GW_TEST_ANSWER_AFTER}" != ""]?Wait(${GW_TEST_ANSWER_AFTER}))
 same => n,Answer()
 same => n,UserEvent(GwTestAgentAnswered,Caller: ${GW_CALLER},Agent: ${EXTEN},Name: ${CALLERID(name)})
 same => n,ExecIf($["${GW_BENCH}" = "1"]?Hangup())
 same => n,ExecIf($["${GW_TEST_AGENT_TONE}" != ""]?Playtones(${GW_TEST_AGENT_TONE}))
 same => n,Wait(${IF($["${GW_TEST_WAIT}" = ""]?1:${GW_TEST_WAIT})})
 same => n,ExecIf($["${GW_TEST_AGENT_TONE}" != ""]?StopPlaytones())
 same => n,ExecIf($["${GW_TEST_KEYS}" != ""]?SendDTMF(${GW_TEST_KEYS},250))
 same => n,Wait(30)
 same => n,Hangup()

[seniors]
; GW_TEST_SENIOR_CAUSE: the senior's line fails with this hangup cause instead of answering.
exten => senior,1,ExecIf($["${GW_TEST_SENIOR_CAUSE}" != ""]?Hangup(${GW_TEST_SENIOR_CAUSE}))
 same => n,Answer()
 same => n,UserEvent(GwTestSeniorAnswered,Name: ${CALLERID(name)},Caller: ${GW_CALLER})
 same => n,Wait(1)
 same => n,ExecIf($["${GW_TEST_SENIOR_KEYS}" != ""]?SendDTMF(${GW_TEST_SENIOR_KEYS},250))
 same => n,Wait(30)
 same => n,Hangup()

[supervisors]
; A supervisor's phone (issue 29's listen-in rings it): answers and stays on the line.
exten => _X.,1,Answer()
 same => n,UserEvent(GwTestSupervisorAnswered,Exten: ${EXTEN})
 same => n,Wait(60)
 same => n,Hangup()

[caller]
exten => s,1,Wait(60)
 same => n,Hangup()

[callback-out]
; The called-back caller of a placed callback appointment ([callbacks] outbound_context in the
; tests): answers, or rings out unanswered while GLOBAL(GW_TEST_CB_NOANSWER) counts down.
exten => _+X.,1,GotoIf($[0${GLOBAL(GW_TEST_CB_NOANSWER)} > 0]?ringout)
 same => n,Answer()
 same => n,UserEvent(GwTestCallbackAnswered,Number: ${EXTEN},CallerID: ${CALLERID(num)})
 same => n,Wait(2)
 same => n,Hangup()
 same => n(ringout),Set(GLOBAL(GW_TEST_CB_NOANSWER)=$[${GLOBAL(GW_TEST_CB_NOANSWER)} - 1])
 same => n,UserEvent(GwTestCallbackRinging,Number: ${EXTEN})
 same => n,Wait(60)
 same => n,Hangup()

[inbound-recorded]
; The inbound route with the answered-leg Gosub an administrator adds (dialplan/README.md 9).
exten => _X.,1,Gosub(grenswacht-screen,s,1(${EXTEN}))
 same => n,Queue(support,,,,60,,grenswacht-answered)
 same => n,Hangup()

[inbound-dial]
; A direct Dial() to one agent, with the answered-leg Gosub as Dial's U() option.
exten => _X.,1,Gosub(grenswacht-screen,s,1(${EXTEN}))
 same => n,Dial(Local/1001@agents/n,20,U(grenswacht-answered^direct))
 same => n,Hangup()

[caller-speaks]
; A caller who speaks (a 440 Hz tone) for GW_TEST_TALK seconds, then hangs up.
exten => s,1,Playtones(440)
 same => n,Wait(${IF($["${GW_TEST_TALK}" = ""]?60:${GW_TEST_TALK})})
 same => n,Hangup()

[agent-phone]
; The agent's own phone dialling an after-call code (the queue members are Local channels).
exten => _*0X,1,Answer()
 same => n,Gosub(grenswacht-after-call,s,1(${EXTEN},Local/${CALLERID(num)}@agents/n))
 same => n,UserEvent(GwTestAfterCall,Result: ${GW_RESULT},Logged: ${GW_LOGGED})
 same => n,Hangup()

[agent-key]
; An agent's feature code run on a channel with no caller bridged to it.
exten => handover,1,Answer()
 same => n,Gosub(grenswacht-agent-key,handover,1)
 same => n,Wait(30)
 same => n,Hangup()
"""


@dataclass
class Asterisk:
    root: Path
    agi_port: int
    ami_port: int = field(default_factory=free_port)
    ami_user: str = "grenswacht"
    ami_secret: str = field(default_factory=lambda: secrets.token_hex(12))
    name: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    agents: tuple[str, ...] = ("1001",)
    # The dialplan's GRENSWACHT_AGI_SECRET global ([agi] secret); empty: none.
    agi_secret: str = ""
    proc: subprocess.Popen | None = None
    log_mark: int = 0  # where the current test's part of messages.log begins (mark_log)

    @property
    def base(self) -> str:
        """The instance's folder as seen from inside the root."""
        return f"/gw-run/{self.name}"

    @property
    def host_base(self) -> Path:
        return self.root / self.base.lstrip("/")

    @property
    def conf(self) -> str:
        return f"{self.base}/etc/asterisk.conf"

    def _moddir(self) -> str:
        hits = sorted(self.root.glob("usr/lib/*/asterisk/modules")) or sorted(
            self.root.glob("usr/lib/asterisk/modules")
        )
        if not hits:
            raise RuntimeError(f"no Asterisk modules under {self.root}; run scripts/provision-asterisk")
        return "/" + str(hits[0].relative_to(self.root))

    def write_config(self) -> None:
        b, hb = self.base, self.host_base
        for sub in ("etc", "lib", "spool", "run", "log", "agi", "data", "data/moh"):
            (hb / sub).mkdir(parents=True, exist_ok=True)
        etc = hb / "etc"
        # The project's files, installed as the README tells an administrator.
        shutil.copytree(
            REPO / "dialplan", etc / "grenswacht", dirs_exist_ok=True, ignore=shutil.ignore_patterns("sounds", "*.md")
        )
        sounds = hb / "data" / "sounds"
        sounds.mkdir(parents=True, exist_ok=True)
        shutil.copytree(
            REPO / "dialplan" / "sounds",
            sounds / "grenswacht",
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("*.sh", "*.tsv"),
        )
        # Everything else of the stock data folder (documentation is required to boot).
        for item in (self.root / "usr/share/asterisk").iterdir():
            if item.name != "sounds" and not (hb / "data" / item.name).is_symlink():
                (hb / "data" / item.name).symlink_to("/usr/share/asterisk/" + item.name)
        # The stock English sounds (for the agent's confirmation beep).
        stock = sorted((self.root / "usr/share/asterisk/sounds").glob("*/beep.gsm"))
        if stock and not (sounds / "en").is_symlink():
            (sounds / "en").symlink_to("/usr/share/asterisk/sounds/" + stock[0].parent.name)
        (etc / "asterisk.conf").write_text(f"""[directories]
astetcdir => {b}/etc
astmoddir => {self._moddir()}
astvarlibdir => {b}/lib
astdbdir => {b}/lib
astkeydir => {b}/lib
astdatadir => {b}/data
astagidir => {b}/agi
astspooldir => {b}/spool
astrundir => {b}/run
astlogdir => {b}/log
astsbindir => /usr/sbin

[options]
verbose = 3
maxcalls = 2000
""")
        (etc / "modules.conf").write_text(MODULES)
        (etc / "logger.conf").write_text("[general]\n[logfiles]\nmessages.log => notice,warning,error,verbose(3)\n")
        (etc / "manager.conf").write_text(f"""[general]
enabled = yes
bindaddr = 127.0.0.1
port = {self.ami_port}

[{self.ami_user}]
secret = {self.ami_secret}
deny = 0.0.0.0/0.0.0.0
permit = 127.0.0.1/255.255.255.255
read = system,call,agent,user,dialplan,reporting
write = system,call,agent,user,originate,command,reporting
""")
        members = "\n".join(f"member => Local/{a}@agents/n,0,Agent {a},,no" for a in self.agents)
        # setinterfacevar: the agent's channel gets MEMBERINTERFACE (who pressed the key);
        # setqueuevar: the caller's channel gets QUEUENAME. dialplan/README.md asks for both.
        queue = f"""strategy = rrmemory
timeout = 10
retry = 1
wrapuptime = 0
ringinuse = no
announce-frequency = 0
setinterfacevar = yes
setqueuevar = yes
{members}
"""
        (etc / "queues.conf").write_text(f"[general]\nshared_lastcall = no\n\n[support]\n{queue}\n[sales]\n{queue}")
        (etc / "musiconhold.conf").write_text("[default]\nmode = files\ndirectory = moh\n")
        (etc / "features.conf").write_text(f"""[general]
[featuremap]
[applicationmap]
#include "{b}/etc/grenswacht/grenswacht-applicationmap.conf"
""")
        (etc / "extensions.conf").write_text(f"""[general]
static = yes
writeprotect = yes

[globals]
GRENSWACHT_AGI=agi://127.0.0.1:{self.agi_port}
GRENSWACHT_AGI_SECRET={self.agi_secret}

#include "{b}/etc/grenswacht/grenswacht-extensions.conf"
{TEST_DIALPLAN}
""")
        for name in ("cdr.conf", "cel.conf", "ccss.conf", "udptl.conf", "acl.conf", "indications.conf"):
            (etc / name).touch()

    def use_agi_secret(self, secret: str | None = None) -> str:
        """From now on the dialplan passes this shared secret (a new random one by default)."""
        self.agi_secret = secret or secrets.token_hex(16)
        if self.proc is not None:
            self.rx(f"dialplan set global GRENSWACHT_AGI_SECRET {self.agi_secret}")
        return self.agi_secret

    def _mount_proc(self) -> None:
        proc_dir = self.root / "proc"
        if not os.path.ismount(proc_dir):
            subprocess.run(["mount", "-t", "proc", "proc", str(proc_dir)], check=True)

    def rx(self, command: str, timeout: float = 20) -> str:
        out = subprocess.run(
            ["chroot", str(self.root), "asterisk", "-C", self.conf, "-rx", command],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return out.stdout

    @contextmanager
    def _root_lock(self) -> Iterator[None]:
        """Instances in one root (pytest-xdist workers, the demo, other test runs) share its /proc
        mount: one instance mounts it while another, ending, decides whether to unmount it. A lock
        file in the root makes each of those one step."""
        (self.root / "gw-run").mkdir(exist_ok=True)
        with open(self.root / "gw-run" / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def start(self) -> Asterisk:
        with self._root_lock():
            self.write_config()
            self._mount_proc()
        log = open(self.host_base / "log" / "console.log", "wb")
        self.proc = subprocess.Popen(
            ["chroot", str(self.root), "asterisk", "-f", "-n", "-C", self.conf],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"Asterisk exited at start (code {self.proc.returncode}); see {self.host_base}/log/console.log"
                )
            if (self.host_base / "run" / "asterisk.ctl").exists():
                try:
                    self.rx("core waitfullybooted", timeout=30)
                    return self
                except subprocess.TimeoutExpired:
                    pass
            time.sleep(0.1)
        raise RuntimeError("Asterisk did not finish booting within 60 s")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.rx("core stop now", timeout=10)
            except subprocess.TimeoutExpired:
                pass
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        with self._root_lock():
            shutil.rmtree(self.host_base, ignore_errors=True)
            # Unmount proc when no other instance of ours runs in this root.
            others = [p for p in (self.root / "gw-run").glob("*") if p.is_dir()]
            if not others and os.path.ismount(self.root / "proc"):
                subprocess.run(["umount", "-l", str(self.root / "proc")], check=False)

    def log_text(self, since: int = 0) -> str:
        """messages.log, from byte ``since`` on (see mark_log)."""
        p = self.host_base / "log" / "messages.log"
        if not p.exists():
            return ""
        with open(p, "rb") as f:
            f.seek(since)
            return f.read().decode(errors="replace")

    def mark_log(self) -> None:
        """Start a new test: lines logged so far no longer satisfy wait_for_log."""
        p = self.host_base / "log" / "messages.log"
        self.log_mark = p.stat().st_size if p.exists() else 0

    async def wait_for_log(self, text: str, timeout: float = 20.0) -> str:
        """The first line of messages.log since mark_log with ``text``, waiting for it up to
        ``timeout``. Asterisk's logger thread writes the file after the fact: a line logged before
        an AMI event may reach the file after the event has reached a test."""
        deadline = time.monotonic() + timeout
        while True:
            line = next((line for line in self.log_text(self.log_mark).splitlines() if text in line), None)
            if line is not None:
                return line
            if time.monotonic() > deadline:
                lines = self.log_text(self.log_mark).splitlines()
                warnings = [line for line in lines if "WARNING[" in line or "ERROR[" in line]
                raise AssertionError(
                    f"no line with {text!r} in Asterisk's log after {timeout:g} s; its warnings and errors since the test began:\n"
                    + "\n".join(warnings[-10:])
                )
            await asyncio.sleep(0.05)


class AmiObserver:
    """An AMI connection that records every event, to assert on what Asterisk did."""

    def __init__(self, asterisk: Asterisk, events: str = "on"):
        self.asterisk = asterisk
        self.event_mask = events  # AMI's login Events: "on", or classes such as "agent"
        self.events: list[dict] = []
        self._since = 0  # wait_for looks at events from here on (see reset)
        self._changed = asyncio.Event()
        self.manager: Manager | None = None

    async def connect(self) -> AmiObserver:
        self.manager = Manager(
            host="127.0.0.1",
            port=self.asterisk.ami_port,
            username=self.asterisk.ami_user,
            secret=self.asterisk.ami_secret,
            ping_delay=3600,
            events=self.event_mask,
            loop=asyncio.get_running_loop(),
        )
        self.manager.register_event("*", self._on_event)
        await self.manager.connect()
        for _ in range(100):
            if getattr(self.manager, "authenticated", False):
                break
            await asyncio.sleep(0.05)
        else:
            raise RuntimeError("AMI login failed")
        return self

    def _on_event(self, manager, event) -> None:
        self.events.append(dict(event))
        self._changed.set()

    def close(self) -> None:
        if self.manager is not None:
            self.manager.close()

    async def action(self, **fields) -> dict:
        resp = await self.manager.send_action(fields)
        return dict(resp) if not isinstance(resp, list) else dict(resp[0])

    def reset(self) -> None:
        """Start a new test: events recorded so far no longer satisfy wait_for."""
        self._since = len(self.events)

    def clear(self) -> None:
        """Drop every recorded event (long runs, where the list would only grow)."""
        self.events.clear()
        self._since = 0

    def call_events(self, linkedid: str) -> list[dict]:
        return [e for e in self.events if e.get("Linkedid") == linkedid or e.get("Uniqueid") == linkedid]

    async def wait_for(self, predicate, timeout: float = 30.0) -> dict:
        """The first recorded event matching predicate; waits for it up to timeout."""
        deadline = asyncio.get_running_loop().time() + timeout
        seen = self._since
        while True:
            for e in self.events[seen:]:
                if predicate(e):
                    return e
            seen = len(self.events)
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError("no matching AMI event")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass

    async def originate(
        self,
        callerid: str,
        name: str = "Jansen",
        exten: str = "0201234567",
        context: str = "inbound",
        variables: dict[str, str] | None = None,
        caller_context: str = "caller",
    ) -> str:
        """Place a call: a Local channel into `context` with this caller ID; returns its linkedid."""
        linkedid = f"gw-{uuid.uuid4().hex[:12]}"
        fields = {
            "Action": "Originate",
            "Channel": f"Local/{exten}@{context}",
            "Context": caller_context,
            "Exten": "s",
            "Priority": "1",
            "CallerID": f'"{name}" <{callerid}>' if name else callerid,
            "Async": "true",
            "ChannelId": linkedid,
            "OtherChannelId": linkedid + "-2",
            "Timeout": "30000",
        }
        if variables:
            fields["Variable"] = ",".join(f"{k}={v}" for k, v in variables.items())
        resp = await self.action(**fields)
        if resp.get("Response") != "Success":
            raise RuntimeError(f"Originate failed: {resp}")
        return linkedid
