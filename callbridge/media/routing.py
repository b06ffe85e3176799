"""Who hears whom in a call: a pure function from the call's members to routes, so the rules read in one place.

A destination that hears exactly one Opus voice gets that voice's frames as they are (passthrough: nothing
decoded, nothing encoded). One that hears several voices, or made audio (a file, hold music), gets a mix; the
router makes each distinct mix once, however many destinations hear it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from callbridge.media.endpoint import Role

WHATSAPP = "whatsapp"  # the WhatsApp user: a voice, and a destination
PLAYBACK = "playback"  # files played into the call
HOLD = "hold"  # hold audio, on a loop, for the WhatsApp user alone
MADE = frozenset({PLAYBACK, HOLD})  # sources that are PCM already, not Opus frames


@dataclass(frozen=True)
class Member:
    """An endpoint as routing sees it: its key and its role."""

    key: str
    role: Role


@dataclass(frozen=True)
class Scene:
    """What is going on in the call right now."""

    members: Sequence[Member] = ()  # connected endpoints
    playing: bool = False
    playback_to_all: bool = True
    hold_audio: bool = False  # hold audio is playing to the WhatsApp user (held, or in a transfer)
    held: bool = False  # the WhatsApp user and the endpoints are cut off from each other
    recording: bool = False
    recording_stereo: bool = False


@dataclass(frozen=True)
class Routes:
    direct: dict[str, tuple[str, ...]] = field(default_factory=dict)  # voice → destinations that get it as is
    mixes: dict[frozenset[str], tuple[str, ...]] = field(default_factory=dict)  # sources → destinations
    decode: frozenset[str] = frozenset()  # Opus voices to decode (for mixes and the recording)
    record_right: frozenset[str] = frozenset()  # voices mixed into a stereo recording's right channel

    @property
    def made(self) -> frozenset[str]:
        """Made sources some mix needs this tick."""
        return frozenset(source for mix in self.mixes for source in mix & MADE)

    @property
    def ticking(self) -> bool:
        """Whether the router needs its 20 ms clock (anything to mix, or to record)."""
        return bool(self.mixes or self.decode)


def heard_by(destination: str, scene: Scene) -> frozenset[str]:
    """The sources one destination hears (its own voice never)."""
    speakers = [m for m in scene.members if m.role is not Role.LISTEN]
    if destination == WHATSAPP:
        heard = set() if scene.held else {m.key for m in speakers if m.role is Role.TALK}
        if scene.playing:
            heard.add(PLAYBACK)
        if scene.hold_audio:
            heard.add(HOLD)
        return frozenset(heard)
    heard = set() if scene.held else {WHATSAPP}
    heard |= {m.key for m in speakers if m.key != destination}
    if scene.playing and scene.playback_to_all:
        heard.add(PLAYBACK)
    return frozenset(heard)


def route(scene: Scene) -> Routes:
    direct: dict[str, list[str]] = {}
    mixes: dict[frozenset[str], list[str]] = {}
    for destination in (WHATSAPP, *(m.key for m in scene.members)):
        heard = heard_by(destination, scene)
        if not heard:
            continue
        if len(heard) == 1 and not heard & MADE:
            direct.setdefault(next(iter(heard)), []).append(destination)
        else:
            mixes.setdefault(heard, []).append(destination)
    record_right = (
        frozenset(m.key for m in scene.members if m.role is not Role.LISTEN)
        if scene.recording and scene.recording_stereo
        else frozenset()
    )
    decode = {source for mix in mixes for source in mix - MADE} | record_right
    if scene.recording:
        decode.add(WHATSAPP)
    return Routes(
        direct={k: tuple(v) for k, v in direct.items()},
        mixes={k: tuple(v) for k, v in mixes.items()},
        decode=frozenset(decode),
        record_right=record_right,
    )
