"""Cool-down: after an end-and-log key press the agent is paused in their queues for a while.

The unpause schedule lives in Redis (keys.COOLDOWN_DUE / COOLDOWN_STATE), so a restart of
Grenswacht never leaves an agent paused for good. Only queues where the member was *not*
already paused are paused, with reason ``grenswacht-cooldown``; at the end, a queue is
unpaused only if the member is still paused there with that reason, so a pause by the agent
or a supervisor is never lifted by us.
"""

from __future__ import annotations

import asyncio
import json

import structlog
from redis.exceptions import RedisError

from agi.ami.client import AmiError
from redis_schema import keys

log = structlog.get_logger("grenswacht.cooldown")

REASON = "grenswacht-cooldown"


async def start(deps, interface: str, now: float) -> list[str]:
    """Pause ``interface`` where it is not paused yet; schedule the unpause. Returns the queues paused.

    The schedule is written to Redis *before* any pause: without a durable schedule there is
    no pause, so no restart or outage can leave an agent paused for good.
    """
    seconds = deps.config.aftercare.cooldown_seconds
    if seconds <= 0 or not interface or deps.ami is None:
        return []
    pauses = await deps.ami.member_pauses(interface)
    to_pause = [queue for queue, reason in pauses.items() if reason is None]
    if not to_pause:
        return []
    redis = deps.store.redis
    try:
        state = json.loads(await redis.hget(keys.COOLDOWN_STATE, interface) or "{}")
        queues = sorted(set(state.get("queues", [])) | set(to_pause))
        async with redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.COOLDOWN_STATE, interface, json.dumps({"queues": queues, "since": now}))
            pipe.zadd(keys.COOLDOWN_DUE, {interface: now + seconds})
            await pipe.execute()
    except (RedisError, OSError) as exc:
        log.warning("cooldown-skipped-store-unavailable", interface=interface, error=type(exc).__name__)
        return []
    for queue in to_pause:
        await deps.ami.queue_pause(interface, queue, True, REASON)
    log.info("cooldown-started", interface=interface, queues=to_pause, seconds=seconds,
             left_alone=[q for q, r in pauses.items() if r is not None])
    return to_pause


async def end_due(deps, now: float) -> list[str]:
    """Unpause every member whose cool-down is over. Returns the interfaces handled."""
    redis = deps.store.redis
    due = await redis.zrangebyscore(keys.COOLDOWN_DUE, "-inf", now)
    done = []
    for interface in due:
        state = json.loads(await redis.hget(keys.COOLDOWN_STATE, interface) or "{}")
        current = await deps.ami.member_pauses(interface)
        for queue in state.get("queues", []):
            if current.get(queue) == REASON:
                await deps.ami.queue_pause(interface, queue, False, REASON)
            else:
                log.info("cooldown-pause-left-alone", interface=interface, queue=queue, reason=current.get(queue))
        async with redis.pipeline(transaction=True) as pipe:
            pipe.zrem(keys.COOLDOWN_DUE, interface)
            pipe.hdel(keys.COOLDOWN_STATE, interface)
            await pipe.execute()
        log.info("cooldown-ended", interface=interface)
        done.append(interface)
    return done


async def scheduler(deps, every: float = 1.0) -> None:
    """Runs in the service: ends due cool-downs, retrying while AMI or Redis is away."""
    while True:
        if deps.ami is not None and deps.ami.connected:
            try:
                await end_due(deps, deps.clock())
            except (AmiError, RedisError, OSError) as exc:
                log.warning("cooldown-check-failed", error=type(exc).__name__, detail=str(exc)[:200])
        await asyncio.sleep(every)
