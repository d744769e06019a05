"""``TrainingFinished`` carries the validation accuracy training measured, or None when it
measured none: a contributor trains without a validation split, and its events all said
``val_accuracy: 0.0`` as if every update were worthless."""

from __future__ import annotations

from concurrent.futures import Future
from types import SimpleNamespace

import pytest

from milon_app.compute.trainer import TrainResult
from milon_app.gui.event_text import event_text
from milon_app.node.contributor import Contributor
from milon_app.node.events import TrainingFinished, event_to_dict


def _finished(val_accuracy: float | None) -> TrainingFinished:
    """What the contributor publishes once its round's training is done."""
    published: list[object] = []
    c = Contributor(SimpleNamespace(publish=published.append))  # type: ignore[arg-type]
    done: Future[TrainResult] = Future()
    done.set_result(TrainResult(b"", {}, 64, 0.5, None, val_accuracy, 1, 2.0, 32.0))
    c._training[(3, 2)] = done
    assert c._trained(SimpleNamespace(job_id=3), 2, None, 1) is done.result()  # type: ignore[arg-type]
    (event,) = published
    assert isinstance(event, TrainingFinished)
    assert (event.job_id, event.round, event.samples, event.train_loss) == (3, 2, 64, 0.5)
    return event


def test_no_validation_is_none_not_zero():
    event = _finished(None)
    assert event.val_accuracy is None
    assert event_to_dict(event)["val_accuracy"] is None
    assert "val_accuracy" not in event_text(event)  # the Node tab's log leaves it out


@pytest.mark.parametrize("measured", [0.0, 0.875])
def test_a_measured_accuracy_is_kept(measured):
    event = _finished(measured)
    assert event.val_accuracy == measured
    assert f"val_accuracy={measured}" in event_text(event)


def test_the_default_event_has_no_accuracy():
    assert TrainingFinished().val_accuracy is None
