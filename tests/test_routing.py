"""Who hears whom (media/routing.py), and the router that carries it out (media/router.py) with real Opus frames.

The rules: talk hears the WhatsApp user, the other talkers, whisperers and playback, and is heard by everyone;
listen hears everything and is heard by no one; whisper hears everything and is heard by the endpoints only.
"""

from __future__ import annotations

import numpy as np
import pytest

from callbridge.emulator.audio import analyse, tone
from callbridge.media.endpoint import Role
from callbridge.media.inbound import InboundAudio
from callbridge.media.opus import FRAME_SAMPLES, OpusDecoder, OpusEncoder, OpusFrame
from callbridge.media.outbound import OutboundAudio
from callbridge.media.router import Router
from callbridge.media.routing import HOLD, PLAYBACK, WHATSAPP, Member, Scene, heard_by, route

A, B, S, W = "a", "b", "s", "w"  # agents A and B, supervisor S, coach W
AGENT = Member(A, Role.TALK)
SUPERVISOR = Member(S, Role.LISTEN)
COACH = Member(W, Role.WHISPER)


def test_one_talker_is_a_passthrough_both_ways_and_nothing_is_decoded() -> None:
    routes = route(Scene([AGENT]))
    assert routes.direct == {A: (WHATSAPP,), WHATSAPP: (A,)}
    assert routes.mixes == {} and routes.decode == frozenset() and not routes.ticking


def test_the_issue_scene_talk_listen_whisper() -> None:
    scene = Scene([AGENT, SUPERVISOR, COACH])
    assert heard_by(WHATSAPP, scene) == {A}  # never the coach, never the supervisor
    assert heard_by(A, scene) == {WHATSAPP, W}
    assert heard_by(S, scene) == {WHATSAPP, A, W}
    assert heard_by(W, scene) == {WHATSAPP, A}
    routes = route(scene)
    assert routes.direct == {A: (WHATSAPP,)}  # the agent's voice still reaches WhatsApp untouched
    assert set(routes.mixes) == {frozenset({WHATSAPP, W}), frozenset({WHATSAPP, A, W}), frozenset({WHATSAPP, A})}
    assert routes.decode == {WHATSAPP, A, W}


def test_a_listener_keeps_the_agent_path_in_passthrough_and_listeners_share_one_mix() -> None:
    routes = route(Scene([AGENT, SUPERVISOR, Member("s2", Role.LISTEN)]))
    assert routes.direct == {A: (WHATSAPP,), WHATSAPP: (A,)}
    assert routes.mixes == {frozenset({WHATSAPP, A}): (S, "s2")}  # encoded once for both


def test_two_talkers_each_hear_the_user_and_the_other() -> None:
    scene = Scene([AGENT, Member(B, Role.TALK)])
    assert heard_by(WHATSAPP, scene) == {A, B}
    assert heard_by(A, scene) == {WHATSAPP, B} and heard_by(B, scene) == {WHATSAPP, A}


@pytest.mark.parametrize(("to_all", "agent_hears"), [(True, {WHATSAPP, PLAYBACK}), (False, {WHATSAPP})])
def test_playback_goes_to_the_user_and_to_the_endpoints_unless_it_is_for_whatsapp_only(
    to_all: bool, agent_hears: set[str]
) -> None:
    scene = Scene([AGENT], playing=True, playback_to_all=to_all)
    assert heard_by(WHATSAPP, scene) == {A, PLAYBACK}
    assert heard_by(A, scene) == agent_hears
    routes = route(scene)
    assert routes.made == {PLAYBACK} and routes.ticking
    if not to_all:
        assert routes.direct == {WHATSAPP: (A,)}  # the agent still hears the user untouched


def test_hold_cuts_both_ways_and_plays_hold_audio_to_the_user_only() -> None:
    scene = Scene([AGENT, Member(B, Role.TALK)], hold_audio=True, held=True)
    assert heard_by(WHATSAPP, scene) == {HOLD}
    assert heard_by(A, scene) == {B} and heard_by(B, scene) == {A}  # the agents can still confer


def test_a_transfer_with_nobody_attached_plays_hold_audio_and_decodes_nothing() -> None:
    routes = route(Scene([], hold_audio=True))
    assert routes.mixes == {frozenset({HOLD}): (WHATSAPP,)} and routes.decode == frozenset()


def test_a_stereo_recording_decodes_the_user_and_the_speaking_endpoints() -> None:
    routes = route(Scene([AGENT, SUPERVISOR, COACH], recording=True, recording_stereo=True))
    assert routes.record_right == {A, W}
    mono = route(Scene([AGENT], recording=True))
    assert mono.decode == {WHATSAPP} and mono.record_right == frozenset()
    assert mono.direct == {A: (WHATSAPP,), WHATSAPP: (A,)}


class Collect(OutboundAudio):
    """A leg's OutboundAudio that keeps what is pushed instead of sending it."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[tuple[OpusFrame, bool]] = []

    def push(self, frame: OpusFrame, mixed: bool = False) -> None:
        self.frames.append((frame, mixed))


def _frames(hz: float, count: int) -> list[OpusFrame]:
    encoder = OpusEncoder()
    pcm = tone(hz, count * FRAME_SAMPLES / 48000)
    return [
        OpusFrame(i * FRAME_SAMPLES, encoder.encode(pcm[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES]))
        for i in range(count)
    ]


def _decoded(frames: list[tuple[OpusFrame, bool]]) -> np.ndarray:
    decoder = OpusDecoder()
    return np.concatenate([decoder.decode(frame.payload) for frame, _ in frames])


async def test_the_router_passes_frames_through_untouched_and_mixes_the_rest_once() -> None:
    router = Router()
    outputs = {WHATSAPP: Collect(), A: Collect(), S: Collect(), "s2": Collect()}
    routes = route(Scene([AGENT, SUPERVISOR, Member("s2", Role.LISTEN)]))
    router.apply(routes, {**outputs})  # as a dict of OutboundAudio: a dict of Collect is not one (dicts are invariant)
    user, agent = _frames(440, 50), _frames(660, 50)
    for heard_from_user, heard_from_agent in zip(user, agent, strict=True):
        router._heard(WHATSAPP, heard_from_user)
        router._heard(A, heard_from_agent)
        router.tick()
    await router.close()

    assert [f for f, _ in outputs[WHATSAPP].frames] == agent  # byte for byte
    assert [f for f, _ in outputs[A].frames] == user
    supervisor = outputs[S].frames
    assert len(supervisor) >= 45 and all(mixed for _, mixed in supervisor)
    assert [f for f, _ in outputs["s2"].frames] == [f for f, _ in supervisor]  # the same mix, encoded once
    assert router.mixed[frozenset({WHATSAPP, A})] == len(supervisor)
    peaks = analyse(_decoded(supervisor)[FRAME_SAMPLES * 5 :])["peaks_hz"]
    assert any(abs(p - 440) < 10 for p in peaks) and any(abs(p - 660) < 10 for p in peaks), peaks


async def test_the_router_stops_its_clock_and_codecs_when_nothing_needs_them() -> None:
    router = Router()
    router.apply(route(Scene([AGENT, SUPERVISOR])), {})
    assert router._clock is not None and router._encoders and router._decoders
    router.apply(route(Scene([AGENT])), {})
    assert router._clock is None and not router._encoders and not router._decoders
    await router.close()


async def test_a_burst_of_frames_does_not_become_lasting_delay_in_a_mix() -> None:
    router = Router()
    supervisor = Collect()
    router.apply(route(Scene([AGENT, SUPERVISOR])), {S: supervisor})
    burst = _frames(440, 6)
    for frame in burst:  # a network hiccup delivers 120 ms at once
        router._heard(WHATSAPP, frame)
    router.tick()
    assert len(router._queues[WHATSAPP]) <= 2 and router.trimmed[WHATSAPP] >= 1
    for frame in _frames(440, 60):  # then one frame per tick, as the clock runs
        router._heard(WHATSAPP, frame)
        router.tick()
        assert len(router._queues[WHATSAPP]) <= 2  # never more than 40 ms waiting
    assert len(router._queues[WHATSAPP]) <= 1  # and a standing backlog drains within a second
    await router.close()


async def test_a_voice_heard_as_is_by_one_destination_goes_straight_to_it_until_routes_change() -> None:
    """A plain call's voices skip the router's dispatch (one hop less per packet); once a mix or the recording needs
    a voice decoded, its frames go through the router again, and back; a closed inbound is forgotten."""
    router = Router()
    user, agent = InboundAudio(), InboundAudio()
    router.listen(WHATSAPP, user)
    router.listen(A, agent)
    outputs = {WHATSAPP: Collect(), A: Collect(), S: Collect()}
    router.apply(route(Scene([AGENT])), {**outputs})
    assert user.sinks == [outputs[A].push] and agent.sinks == [outputs[WHATSAPP].push]
    frame = _frames(440, 1)[0]
    user._release(frame)
    assert outputs[A].frames == [(frame, False)]

    router.apply(route(Scene([AGENT, SUPERVISOR])), {**outputs})  # the supervisor hears a mix: both decoded
    assert user.sinks != [outputs[A].push]
    user._release(frame)
    assert outputs[A].frames[-1] == (frame, False) and router.decoded[WHATSAPP] == 1

    router.apply(route(Scene([AGENT])), {**outputs})
    assert user.sinks == [outputs[A].push]
    agent.close()  # the agent's inbound went away: its sinks are cleared, and the router lets it go
    router.apply(route(Scene([AGENT])), {**outputs})
    assert A not in router._voices and WHATSAPP in router._voices
    await router.close()
