"""After-care that finishes, on a real Asterisk 22, with AMI and Redis failing around a key press.

Each test runs a Grenswacht service of its own (own Redis, own FastAGI port, AMI through a
proxy the test can cut); the call is sent to it with an inherited ``__GRENSWACHT_AGI``, which
the dialplan's ``${GRENSWACHT_AGI}`` picks up for the screening and for the agent's keys.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from agi.aftercare.journal import STORE
from agi.service import Service
from redis_schema import keys
from tests.e2e.test_agent_key_e2e import wait_until
from tests.e2e.test_screening_e2e import on
from tests.support.redis_server import RedisServer, free_port
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.asterisk, pytest.mark.asyncio(loop_scope="session")]

N = "+31612345678"
AGENTS = ("Local/1001@agents/n", "Local/1002@agents/n")


@dataclass
class Side:
    service: Service
    redis: RedisServer
    proxy: TcpProxy
    port: int

    def variables(self, keys_: str = "*0") -> dict[str, str]:
        return {"__GRENSWACHT_AGI": f"agi://127.0.0.1:{self.port}", "__GW_TEST_KEYS": keys_}

    async def incidents(self):
        try:
            return (await self.service.deps.store.screening.load_caller(N)).incidents
        except OSError:
            return ()


@pytest.fixture
def side(e2e_config, asterisk, ami, tmp_path):
    @asynccontextmanager
    async def make(cooldown: int):
        redis = RedisServer().start()
        proxy = await TcpProxy("127.0.0.1", asterisk.ami_port).start()
        port = free_port()
        config = e2e_config.model_copy(
            update={
                "redis": e2e_config.redis.model_copy(update={"url": redis.url}),
                "agi": e2e_config.agi.model_copy(update={"listen": f"127.0.0.1:{port}"}),
                "ami": e2e_config.ami.model_copy(
                    update={"address": f"127.0.0.1:{proxy.port}", "reconnect_max_seconds": 1.0}
                ),
                "aftercare": e2e_config.aftercare.model_copy(update={"cooldown_seconds": cooldown}),
                "storage": e2e_config.storage.model_copy(update={"journal_path": str(tmp_path / "journal.jsonl")}),
            }
        )
        svc = Service(config)
        await svc.start()
        await svc.deps.ami.wait_connected(10)
        ami.reset()
        try:
            yield Side(svc, redis, proxy, port)
        finally:
            await svc.stop()
            await proxy.close()
            redis.cleanup()
            asterisk.rx("channel request hangup all")
            for agent in AGENTS:
                for queue in ("support", "sales"):
                    await ami.action(Action="QueuePause", Interface=agent, Queue=queue, Paused="false")

    return make


def paused(agent: str | None = None, value: str = "1"):
    def match(e):
        return (
            e.get("Event") == "QueueMemberPause"
            and e.get("Paused") == value
            and (agent is None or e.get("Interface") == agent)
            and (value == "0" or e.get("PausedReason") == "grenswacht-cooldown")
        )

    return match


async def test_ami_down_during_a_cooldown_the_agent_is_unpaused_when_it_returns(side, ami):
    async with side(cooldown=3) as s:
        await ami.originate("0612345678", variables=s.variables())
        [inc] = await wait_until(s.incidents)
        await ami.wait_for(paused(inc.agent))
        s.proxy.cut()
        await asyncio.sleep(5)  # the cool-down ends while AMI is away
        ami.reset()
        assert not [e for e in ami.events if paused(inc.agent, "0")(e)]
        s.proxy.restore()
        await ami.wait_for(paused(inc.agent, "0"), timeout=30)
        await wait_until(lambda: _no_cooldowns(s))


async def test_ami_down_at_the_key_press_the_event_and_the_pause_follow(side, ami):
    async with side(cooldown=30) as s:
        s.proxy.cut()
        await wait_until(lambda: _disconnected(s))
        await ami.originate("0612345678", variables=s.variables())
        [inc] = await wait_until(s.incidents)  # logged without AMI
        await asyncio.sleep(1)
        assert not [e for e in ami.events if paused(inc.agent)(e)]
        s.proxy.restore()
        ev = await ami.wait_for(
            lambda e: e.get("UserEvent") == "GrenswachtIncident" and e.get("IncidentId") == inc.id, timeout=30
        )
        assert ev["Caller"] == N and float(ev["At"]) == inc.at  # the stored time, not a later one
        await ami.wait_for(paused(inc.agent), timeout=10)
        await ami.wait_for(paused(inc.agent, "0"), timeout=40)


async def test_redis_down_at_the_key_press_the_cooldown_follows_the_replay(side, ami):
    async with side(cooldown=20) as s:
        lid = await ami.originate("0612345678", variables=s.variables())
        await ami.wait_for(on(lid, "UserEvent", UserEvent="GwTestAgentAnswered"))
        s.redis.stop()  # the agent presses *0 a second later
        await ami.wait_for(on(lid, "Hangup", Context="grenswacht-closing"), timeout=30)
        journal = s.service.deps.logbook.journal
        assert [e for e in journal.entries.values() if STORE in e.steps]
        s.redis.start()  # empty: it had no persistence
        [inc] = await wait_until(s.incidents, timeout=30)
        assert inc.linkedid == lid
        await ami.wait_for(paused(inc.agent), timeout=15)
        await ami.wait_for(paused(inc.agent, "0"), timeout=30)
        await asyncio.sleep(1.5)
        assert len(await s.incidents()) == 1


async def test_redis_restarted_empty_during_a_cooldown_the_agent_is_still_unpaused(side, ami):
    async with side(cooldown=12) as s:
        await ami.originate("0612345678", variables=s.variables())
        [inc] = await wait_until(s.incidents)
        await ami.wait_for(paused(inc.agent))
        s.redis.kill()  # the cool-down state is gone with it
        s.redis.start()
        await wait_until(lambda: _cooling(s, inc.agent), timeout=20)  # restored from the journal
        await ami.wait_for(paused(inc.agent, "0"), timeout=30)
        await wait_until(lambda: _no_cooldowns(s))


async def _cooling(s: Side, agent: str) -> bool:
    try:
        return agent in await s.service.deps.store.cooldowns.all()
    except OSError:
        return False


async def test_a_poisoned_cooldown_entry_does_not_keep_another_agent_paused(side, ami):
    async with side(cooldown=3) as s, Redis.from_url(s.redis.url, decode_responses=True) as rdb:
        await rdb.hset(keys.COOLDOWNS, "Local/1999@agents/n", "{not json")
        await ami.originate("0612345678", variables=s.variables())
        [inc] = await wait_until(s.incidents)
        await ami.wait_for(paused(inc.agent))
        await ami.wait_for(paused(inc.agent, "0"), timeout=20)
        quarantined = await rdb.hgetall(keys.QUARANTINE)
        assert list(quarantined.values()) == ["{not json"]


async def _no_cooldowns(s: Side) -> bool:
    return await s.service.deps.store.cooldowns.all() == {}


async def _disconnected(s: Side) -> bool:
    return not s.service.deps.ami.connected


async def test_a_refused_ami_login_is_reported_once(asterisk):
    from structlog.testing import capture_logs

    from agi.ami.client import AmiClient

    client = AmiClient("127.0.0.1", asterisk.ami_port, asterisk.ami_user, "wrong-secret", reconnect_max=1)
    with capture_logs() as logs:
        await client.connect()
        assert not await client.wait_connected(3)
        await client.close()
    refused = [e for e in logs if e["event"] == "ami-login-refused"]
    assert len(refused) == 1 and "wrong-secret" not in str(refused)


async def test_the_service_reads_answers_but_no_events_from_ami(asterisk, ami):
    """Grenswacht logs in with Events: off (it parses no PBX-wide event stream beside its calls),
    and the answers it relies on still come: QueueStatus's QueueMember list and a UserEvent sent."""
    from agi.ami.client import AmiClient

    client = AmiClient("127.0.0.1", asterisk.ami_port, asterisk.ami_user, asterisk.ami_secret)
    heard: list[dict] = []
    await client.connect()
    try:
        assert await client.wait_connected(5)
        pauses = await client.member_pauses(AGENTS[0])
        assert "support" in pauses  # the list answer arrived
        client.manager.register_event("*", lambda manager, event: heard.append(dict(event)))
        ami.reset()
        await client.user_event("GrenswachtProbe", {"Probe": "events-off"})
        await ami.wait_for(lambda e: e.get("UserEvent") == "GrenswachtProbe", timeout=5)
        await asyncio.sleep(0.5)
        assert not [e for e in heard if e.get("Event")]  # the observer heard it; the service did not
    finally:
        await client.close()
