"""Interval matching and metrics as tables, and the evaluate command on files."""

import json

import pytest

from edge.cli import main
from evaluation.labels import Interval, LabelError, intervals_from_events, load_truth
from evaluation.matching import match, metrics


def iv(start, end, kind="empty_post", window="W1"):
    return Interval(kind, window, start, end)


@pytest.mark.parametrize(
    "truth, predicted, tp, fp, fn",
    [
        ([iv(4, 8)], [iv(4.5, 9)], 1, 0, 0),
        ([iv(4, 8)], [iv(7, 9)], 0, 1, 1),                # start error 3 s > 2 s tolerance
        ([iv(4, 8)], [iv(10, 12)], 0, 1, 1),              # no overlap
        ([iv(4, 8)], [iv(4, 8, window="W2")], 0, 1, 1),   # wrong window
        ([iv(4, 8)], [iv(4, 8, kind="chatting")], 0, 1, 1),  # wrong type
        ([iv(4, 8)], [iv(4, 8), iv(4.2, 8)], 1, 1, 0),     # a truth interval matches once
        ([iv(4, 8), iv(20, 30)], [iv(21, 25)], 1, 0, 1),
        ([], [iv(1, 2)], 0, 1, 0),
        ([iv(1, 2)], [], 0, 0, 1),
    ],
)
def test_match_table(truth, predicted, tp, fp, fn):
    m, fps, fns = match(truth, predicted, tolerance_s=2.0)
    assert (len(m), len(fps), len(fns)) == (tp, fp, fn)


def test_greedy_prefers_the_closest_start():
    truth = [iv(10, 20)]
    m, fps, _ = match(truth, [iv(11.5, 20), iv(10.2, 20)], 2.0)
    assert m[0].predicted.start == 10.2 and fps[0].start == 11.5


def test_metrics_values():
    per = metrics([iv(4, 8), iv(20, 30), iv(40, 50)], [iv(5, 8), iv(20.5, 25), iv(60, 61)], 2.0)
    d = per["empty_post"].to_dict()
    assert (d["tp"], d["fp"], d["fn"]) == (2, 1, 1)
    assert d["precision"] == pytest.approx(2 / 3, abs=1e-4) and d["f1"] == pytest.approx(2 / 3, abs=1e-4)
    assert d["start_error_median_s"] == pytest.approx(0.75)


def test_intervals_from_events_pairs_start_and_end():
    events = [
        {"event_id": "a", "type": "empty_post", "state": "start", "t": 5.0, "window": "W1"},
        {"event_id": "b", "type": "chatting", "state": "start", "t": 6.0, "window": None},
        {"event_id": "a", "type": "empty_post", "state": "update", "t": 7.0, "window": "W1"},
        {"event_id": "a", "type": "empty_post", "state": "end", "t": 9.0, "window": "W1"},
        {"event_id": "b", "type": "chatting", "state": "update", "t": 8.0, "window": None},
    ]
    got = {(i.event_id, i.start, i.end) for i in intervals_from_events(events)}
    assert got == {("a", 5.0, 9.0), ("b", 6.0, 8.0)}  # b never ended: its last event closes it


@pytest.mark.parametrize(
    "content, message",
    [
        ("{}", "expected a JSON list"),
        ('[{"type": "loitering", "start": 1, "end": 2}]', "[0].type: expected one of"),
        ('[{"type": "empty_post", "start": 3, "end": 2}]', "end 2.0 is before start 3.0"),
        ('[{"type": "empty_post", "start": "x", "end": 2}]', "must be numbers"),
        ("[", "not valid JSON"),
    ],
)
def test_bad_truth_files(tmp_path, content, message):
    p = tmp_path / "truth.json"
    p.write_text(content)
    with pytest.raises(LabelError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_truth(p)


def test_evaluate_command_json_and_plot(tmp_path, capsys):
    truth = tmp_path / "truth.json"
    truth.write_text(json.dumps([{"type": "empty_post", "window": "W1", "start": 4.0, "end": 7.5}]))
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(e) for e in [
        {"event_id": "x", "type": "empty_post", "state": "start", "t": 4.4, "window": "W1"},
        {"event_id": "x", "type": "empty_post", "state": "end", "t": 7.0, "window": "W1"},
        {"event_id": "y", "type": "empty_post", "state": "start", "t": 30.0, "window": "W1"},
    ]))
    plot = tmp_path / "timeline.png"
    assert main(["evaluate", "--truth", str(truth), "--events", str(events), "--json",
                 "--plot", str(plot)]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    ep = out["types"]["empty_post"]
    assert (ep["tp"], ep["fp"], ep["fn"], ep["precision"], ep["recall"]) == (1, 1, 0, 0.5, 1.0)
    assert ep["start_error_median_s"] == pytest.approx(0.4)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["evaluate", "--truth", str(truth), "--events", str(events)]) == 0
    table = capsys.readouterr().out
    assert "empty_post" in table and "precision" in table
