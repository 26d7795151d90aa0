"""service.faces.tracking: track ids follow faces across frames; the assignment is optimal, not greedy."""

from service.faces.detector import Box
from service.faces.tracking import FaceTracker


def test_update_keeps_the_ids_of_two_moving_faces() -> None:
    tracker = FaceTracker()
    first = tracker.update([Box(0, 0, 100, 100), Box(300, 0, 100, 100)], 0.0)
    # Both move 10 px right, and the detector lists them in the other order.
    second = tracker.update([Box(310, 0, 100, 100), Box(10, 0, 100, 100)], 0.1)
    assert first == [1, 2]
    assert second == [2, 1]


def test_update_gives_a_new_id_to_a_face_missing_for_longer_than_the_gap() -> None:
    tracker = FaceTracker(max_gap_s=1.0)
    assert tracker.update([Box(0, 0, 100, 100)], 0.0) == [1]
    assert tracker.update([], 0.5) == []
    assert tracker.update([Box(0, 0, 100, 100)], 0.9) == [1]  # missed for 0.9 s: the same person
    assert tracker.update([Box(0, 0, 100, 100)], 2.5) == [2]  # missed for 1.6 s: a new track


def test_update_starts_a_track_for_a_box_that_overlaps_too_little() -> None:
    tracker = FaceTracker(min_iou=0.3)
    tracker.update([Box(0, 0, 100, 100)], 0.0)
    assert tracker.update([Box(80, 0, 100, 100)], 0.1) == [2]  # IoU 20/180 = 0.11


def test_update_assigns_boxes_optimally_where_greedy_matching_would_swap_a_person() -> None:
    tracker = FaceTracker(min_iou=0.3)
    assert tracker.update([Box(0, 0, 100, 100), Box(60, 0, 100, 100)], 0.0) == [1, 2]
    # Track 1's best box is the right one (IoU 0.67), but then track 2 would overlap nothing; the
    # best total overlap gives track 1 the left box (IoU 0.43) and track 2 the right one (0.43).
    assert tracker.update([Box(20, 0, 100, 100), Box(-40, 0, 100, 100)], 0.1) == [2, 1]
