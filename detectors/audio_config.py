"""Config models of the audio side of the dispute rule: the per-microphone baseline and hall-wide rejection.

They nest under `rules.dispute` (`rules.dispute.baseline`, `rules.dispute.hall_wide`); strict pydantic,
units in the field names.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AudioBaselineConfig(_Strict):
    """How each microphone learns its normal speech level and pitch (a rolling median over speech)."""

    window_s: float = Field(300.0, ge=10, le=86400, description="seconds of speech the median spans")
    min_speech_s: float = Field(10.0, ge=0, le=3600, description="speech heard before the learnt baseline "
                                "replaces the calibrated seed (without a seed, before the mic can alert)")
    min_speech_prob: float = Field(0.5, ge=0, le=1, description="blocks with less speech are not learnt")


class HallWideConfig(_Strict):
    """When most microphones rise together (a PA call, crowd noise), no single window is raised.

    At every 0.512 s audio step each microphone's rise is its level minus its own speech baseline.
    - A risen microphone (`rise_db` or more) whose rise exceeds the median rise of the others by
      `local_margin_db` is *local*: a sound near it. A PA or a crowd is heard at comparable rises
      everywhere; a quarrel is heard far louder at its own window than as cross-talk elsewhere.
    - A risen microphone whose level envelope correlates with a local one's hears that local sound
      (cross-talk) and is not counted either.
    - The step is hall-wide when at least `min_mics` counted microphones remain and they are either
      `min_fraction` of the microphones with a baseline rising *together* (their 32 ms level envelopes over
      the last `envelope_s` correlate by `min_correlation` or more on average: one sound heard everywhere),
      or `crowd_fraction` of them, correlated or not (the whole hall is loud). Two unrelated loud windows
      at once are therefore not hall-wide.
    - It stays hall-wide for `hold_s` after that stops (announcements pause between words). During a
      hall-wide step each microphone's rise counts only above the median rise of the other microphones,
      so a quarrel much louder than the announcement still counts.
    """

    rise_db: float = Field(6.0, gt=0, le=60, description="a microphone this far over its baseline has risen")
    min_fraction: float = Field(0.6, gt=0, le=1, description="share of microphones that must rise together")
    min_mics: int = Field(2, ge=2, le=1000, description="fewer microphones than this never make a hall-wide step")
    hold_s: float = Field(2.0, ge=0, le=60, description="stay hall-wide this long after the rise ends")
    min_correlation: float = Field(0.5, ge=-1, le=1, description="mean envelope correlation of the risen "
                                   "microphones that makes their rise one common sound")
    envelope_s: float = Field(2.0, ge=0.5, le=30, description="seconds of level envelope correlated")
    local_margin_db: float = Field(8.0, gt=0, le=60, description="rise over the others' median rise that "
                                   "marks a microphone's own local sound, not a hall-wide one")
    crowd_fraction: float = Field(0.8, gt=0, le=1, description="share of microphones risen that is "
                                  "hall-wide even without correlation")
