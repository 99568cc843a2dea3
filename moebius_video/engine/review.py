"""The review video (``--review FILE.mp4``): each input frame with its mask and confidence.

The mask is tinted and outlined (red where the tracker is sure, orange where the frame is
doubtful); a strip at the bottom draws the confidence of every frame so far as a timeline,
with the doubtful threshold as a line, so a user sees where a keyframe would help.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from moebius_video.io.frames import Frame

_SURE = np.array([230, 40, 40], np.float32)  # RGB
_DOUBT = np.array([255, 160, 0], np.float32)


def review_frame(
    image: np.ndarray,
    mask: np.ndarray,
    confidences: list[float],
    total: int | None,
    threshold: float,
) -> np.ndarray:
    """Draw one review frame.

    Args:
        image: ``H,W,3`` uint8 RGB input frame.
        mask: ``H,W`` bool mask of that frame.
        confidences: the confidence of every frame so far, this one last.
        total: the number of frames in the video (scales the timeline), if known.
        threshold: confidences below this are doubtful.

    Returns:
        ``H,W,3`` uint8 RGB.
    """
    out = image.copy()
    h, w = out.shape[:2]
    conf = confidences[-1] if confidences else 1.0
    colour = _SURE if conf >= threshold else _DOUBT
    if mask.any():
        tinted = out[mask].astype(np.float32) * 0.55 + colour * 0.45
        out[mask] = tinted.astype(np.uint8)
        contours, _ = cv2.findContours(
            mask.view(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
        )
        cv2.drawContours(out, contours, -1, tuple(int(c) for c in colour), max(1, w // 400))
    # timeline strip
    strip = max(12, h // 12)
    y0 = h - strip
    out[y0:] = (out[y0:].astype(np.float32) * 0.35).astype(np.uint8)
    n = max(total or 0, len(confidences), 1)
    xs = (np.arange(len(confidences)) * (w - 1) / max(n - 1, 1)).astype(np.int32)
    for x, c in zip(xs, confidences, strict=True):
        top = y0 + int(round((1.0 - c) * (strip - 2))) + 1
        col = (80, 200, 80) if c >= threshold else (255, 160, 0)
        cv2.line(out, (int(x), h - 1), (int(x), top), col, 1)
    ty = y0 + int(round((1.0 - threshold) * (strip - 2))) + 1
    cv2.line(out, (0, ty), (w - 1, ty), (200, 200, 200), 1)
    label = f"confidence {conf:.2f}" + ("  DOUBTFUL: add a keyframe" if conf < threshold else "")
    scale = max(0.4, h / 720)
    cv2.putText(
        out, label, (8, max(18, int(28 * scale))), cv2.FONT_HERSHEY_SIMPLEX, scale,
        (0, 0, 0), max(2, int(4 * scale)), cv2.LINE_AA,
    )
    cv2.putText(
        out, label, (8, max(18, int(28 * scale))), cv2.FONT_HERSHEY_SIMPLEX, scale,
        tuple(int(c) for c in colour), max(1, int(2 * scale)), cv2.LINE_AA,
    )
    return out


def reviewed(
    pairs: Iterable[tuple[Frame, np.ndarray, float]],
    sink,  # type: ignore[no-untyped-def]
    confidences: list[float],
    total: int | None,
    threshold: float,
) -> Iterator[tuple[Frame, np.ndarray, float]]:
    """Pass ``pairs`` through, writing a review frame of each to ``sink`` on the way.

    Args:
        pairs: ``(frame, raw mask, seconds)`` from the mask stage.
        sink: an open frame sink (``moebius_video.io.open_sink``).
        confidences: the list the mask stage appends each frame's confidence to.
        total: the number of frames, if known.
        threshold: the doubtful threshold.

    Yields:
        The same items.
    """
    for frame, mask, seconds in pairs:
        image = review_frame(frame.image, mask, confidences, total, threshold)
        sink.write(
            Frame(index=frame.index, image=image, pts=frame.pts, time_base=frame.time_base,
                  name=frame.name)
        )
        yield frame, mask, seconds


__all__ = ["review_frame", "reviewed"]
