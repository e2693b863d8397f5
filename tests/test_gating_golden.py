"""Detection quality does not drop for speed: the golden real-footage replay with the motion gate and crops
on gives the same events as full-frame inference on every analysed frame (F1 within 0.02)."""

from pathlib import Path

import pytest

from edge.cli_demo import demo_config
from edge.replay import Replay
from evaluation.labels import intervals_from_events, load_truth
from evaluation.matching import metrics
from tests.assets import asset_or_skip as asset

pytestmark = [pytest.mark.assets, pytest.mark.slow]

TRUTH = Path(__file__).resolve().parent.parent / "edge" / "demo.truth.json"


def test_gated_replay_scores_like_full_frame_every_frame() -> None:
    footage = asset("footage/one-by-one-person-detection.mp4")
    asset("models/yolox_nano.onnx")
    truth = load_truth(TRUTH)
    scores, infer = {}, None
    for gating in (True, False):
        cfg = demo_config(footage.parent.parent)
        cfg.gating.enabled = gating
        replay = Replay(cfg)
        result = replay.run()
        got = metrics(truth, intervals_from_events([e.to_dict() for e in result.events]), 2.0)
        scores[gating] = got["empty_post"].f1
        if gating:
            infer = next(iter(replay.pipelines.values())).gated.stats.inference_fraction
    assert abs(scores[True] - scores[False]) <= 0.02, scores
    assert scores[True] >= 0.9
    assert infer is not None and infer < 0.6  # the gate did skip most frames of this mostly quiet clip
