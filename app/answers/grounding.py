"""Grounded answers in Perceptron's tag grammar (point, point_box, polygon, clip) on the 0–1000 grid.

Annotations are laid out one per cell of a grid so that boxes do not pile up, and each is a top-level
leaf: an answer cut by ``max_completion_tokens`` leaves at worst a dangling tag.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace
from html import escape

from perceptron_mock.answers.draws import between, sample
from perceptron_mock.answers.said import keep
from perceptron_mock.values import value

GRID = 1000


@value
class Region:
    x1: int
    y1: int
    x2: int
    y2: int

    @property
    def width(self) -> int:
        return self.x2 - self.x1

    @property
    def height(self) -> int:
        return self.y2 - self.y1


WHOLE = Region(0, 0, GRID, GRID)


@value
class Annotation:
    kind: str  # point, box, polygon, clip
    mention: str
    points: tuple[tuple[int, int], ...]  # one for a point, two for a box, three or more for a polygon
    asset_idx: int | None = None
    clip: tuple[float, float] | None = None
    t: float | None = None  # seconds into the video, for a point, box or polygon on a video

    @property
    def centre(self) -> tuple[int, int]:
        points = self.points
        if not points:
            return (GRID // 2, GRID // 2)
        x = y = 0
        for px, py in points:  # a loop, not two lists: where() reads it for every annotation of a text answer
            x += px
            y += py
        return (x // len(points), y // len(points))

    def markup(self) -> str:
        return "".join(self.pieces())

    def pieces(self) -> list[str]:
        """``markup()`` in pieces that join where no token crosses (``answers.said``): the tags, and
        each point in two (a digit is a token of its own), so that a thousand numbers make the pieces."""
        attrs = f' mention="{escape(self.mention, quote=True)}"' if self.mention else ""
        if self.t is not None and self.kind != "clip":
            attrs += f' t="{self.t:.1f} seconds"'
        if self.asset_idx is not None:
            attrs += f' asset_idx="{self.asset_idx}"'
        tag = _TAGS.get(self.kind)
        if tag is None:
            start, end = self.clip or (0.0, 1.0)
            return [f'<clip{attrs} t="{start:.1f} seconds {end:.1f} seconds" />']
        out = [f"<{tag}{attrs}>"]
        for x, y in self.points:
            out += (f" ({x},", f"{y})")
        out.append(f" </{tag}>" if self.points else f"  </{tag}>")
        return out


_TAGS = {"point": "point", "box": "point_box", "polygon": "polygon"}
keep([f" ({n}," for n in range(GRID + 1)] + [f"{n})" for n in range(GRID + 1)])  # every point's two pieces


def focus_region(rng: random.Random) -> Region:
    """The crop the FOCUS tool "zooms" into: between a third and two thirds of each side."""
    width = between(rng, GRID // 3, 2 * GRID // 3)
    height = between(rng, GRID // 3, 2 * GRID // 3)
    x1 = between(rng, 0, GRID - width)
    y1 = between(rng, 0, GRID - height)
    return Region(x1, y1, x1 + width, y1 + height)


Cell = tuple[int, int, int, int]  # x1, y1, x2, y2: a Region's corners, cheaper to build for every box


def _cells(region: Region, count: int, rng: random.Random) -> list[Cell]:
    """``count`` distinct cells of a near-square grid over ``region``, in reading order."""
    cols = max(1, math.ceil(math.sqrt(count * region.width / max(region.height, 1))))
    rows = max(1, math.ceil(count / cols))
    cell_w, cell_h = region.width // cols, region.height // rows
    chosen = sorted(sample(rng, range(cols * rows), count))
    x0, y0 = region.x1, region.y1
    return [
        (x0 + (i % cols) * cell_w, y0 + (i // cols) * cell_h, x0 + (i % cols + 1) * cell_w, y0 + (i // cols + 1) * cell_h)
        for i in chosen
    ]


def _box_in(cell: Cell, rng: random.Random) -> tuple[tuple[int, int], tuple[int, int]]:
    left, top, right, bottom = cell
    width, height = right - left, bottom - top
    # Conditionals, not max() and min(): the same bounds at a third of the cost, for every box drawn.
    min_w = width // 3 if width >= 6 else 2
    min_h = height // 3 if height >= 6 else 2
    w = between(rng, min_w, width - 2 if width - 2 > min_w else min_w)
    h = between(rng, min_h, height - 2 if height - 2 > min_h else min_h)
    x1 = left + between(rng, 0, width - w if width > w else 0)
    y1 = top + between(rng, 0, height - h if height > h else 0)
    x2 = x1 + w if x1 + w < GRID else GRID
    y2 = y1 + h if y1 + h < GRID else GRID
    if x2 <= x1:
        x1 = x2 - 1
    if y2 <= y1:
        y1 = y2 - 1
    return (x1, y1), (x2, y2)


def _point_in(cell: Cell, rng: random.Random) -> tuple[int, int]:
    x1, y1, x2, y2 = cell
    mx, my = (x2 - x1) // 4, (y2 - y1) // 4
    return (between(rng, x1 + mx, x2 - mx), between(rng, y1 + my, y2 - my))


def _cross(o: tuple[int, int], a: tuple[int, int], b: tuple[int, int]) -> int:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _segments_touch(p1, p2, q1, q2) -> bool:
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    if ((d1 > 0 and d2 < 0) or (d1 < 0 and d2 > 0)) and ((d3 > 0 and d4 < 0) or (d3 < 0 and d4 > 0)):
        return True

    def on(a, b, c) -> bool:  # c on segment ab, given collinear
        return min(a[0], b[0]) <= c[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= c[1] <= max(a[1], b[1])

    return (
        (d1 == 0 and on(q1, q2, p1))
        or (d2 == 0 and on(q1, q2, p2))
        or (d3 == 0 and on(p1, p2, q1))
        or (d4 == 0 and on(p1, p2, q2))
    )


def is_simple(points: list[tuple[int, int]]) -> bool:
    """A closed polygon with distinct vertices, non-zero area and no two non-adjacent edges touching."""
    n = len(points)
    if n < 3 or len(set(points)) != n:
        return False
    area2 = sum(points[i][0] * points[(i + 1) % n][1] - points[(i + 1) % n][0] * points[i][1] for i in range(n))
    if area2 == 0:
        return False
    edges = [(points[i], points[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue
            if _segments_touch(*edges[i], *edges[j]):
                return False
    return True


def _polygon_in(cell: Cell, rng: random.Random) -> list[tuple[int, int]]:
    """A star-shaped polygon around the cell's centre: vertices at increasing angles and varying radii,
    checked for simplicity after rounding to the grid (a convex fallback if rounding broke it)."""
    left, top, right, bottom = cell
    cx, cy = (left + right) / 2, (top + bottom) / 2
    rx, ry = max((right - left) / 2 - 2, 3), max((bottom - top) / 2 - 2, 3)
    n = between(rng, 4, 9)
    start = rng.uniform(0, 2 * math.pi)
    gaps = [rng.uniform(1.0, 2.0) for _ in range(n)]
    total = sum(gaps)
    angle = start
    points: list[tuple[int, int]] = []
    for gap in gaps:
        radius = rng.uniform(0.55, 1.0)
        point = (round(cx + rx * radius * math.cos(angle)), round(cy + ry * radius * math.sin(angle)))
        points.append((min(GRID, max(0, point[0])), min(GRID, max(0, point[1]))))
        angle += 2 * math.pi * gap / total
    if is_simple(points):
        return points
    x1, y1, x2, y2 = round(cx - rx), round(cy - ry), round(cx + rx), round(cy + ry)
    return [(x1, round(cy)), (round(cx), y1), (x2, round(cy)), (round(cx), y2)]


def annotate(
    kind: str,
    mentions: tuple[str, ...],
    count: int,
    rng: random.Random,
    *,
    n_images: int = 1,
    image_idx: int | None = None,
    region: Region = WHOLE,
    duration: float | None = None,
) -> list[Annotation]:
    """``count`` annotations of ``kind``; mentions are used in turn. With several images, annotations go
    to ``image_idx`` (the image asked about) with its ``asset_idx``; without one, over all the images.
    ``duration``: the target is a video that long (seconds): clips lie within it, and points, boxes
    and polygons carry a time ``t`` in it, in order."""
    if count <= 0:
        return []
    mentions = mentions or ("object",)
    per_image: dict[int | None, int] = {}
    targets: list[int | None] = []
    for i in range(count):
        if n_images <= 1:
            target = None
        elif image_idx is not None:
            target = image_idx
        else:
            target = i % n_images
        targets.append(target)
        per_image[target] = per_image.get(target, 0) + 1
    cells = {target: _cells(region, number, rng) for target, number in per_image.items()}
    out: list[Annotation] = []
    for i, target in enumerate(targets):
        cell = cells[target].pop(0)
        mention = mentions[i % len(mentions)]
        if kind == "point":
            points: tuple[tuple[int, int], ...] = (_point_in(cell, rng),)
        elif kind == "box":
            points = _box_in(cell, rng)
        elif kind == "polygon":
            points = tuple(_polygon_in(cell, rng))
        else:
            out.append(Annotation("clip", mention, (), target, clip=_span(rng, duration)))
            continue
        out.append(Annotation(kind, mention, points, target))
    if duration is not None and kind != "clip":
        times = sorted(math.floor(rng.uniform(0, duration) * 10) / 10 for _ in out)
        out = [replace(a, t=t) for a, t in zip(out, times)]
    return out


def _span(rng: random.Random, duration: float | None) -> tuple[float, float]:
    """A clip's (start, end) in seconds: within ``duration`` (floored to tenths, so that the written
    times never pass it), or anywhere in the first 25 seconds when no duration is known."""
    if duration is None:
        start = round(rng.uniform(0, 20), 1)
        return start, start + round(rng.uniform(0.5, 5), 1)
    end_max = math.floor(duration * 10) / 10
    start = math.floor(rng.uniform(0, end_max * 0.8) * 10) / 10
    end = math.floor(rng.uniform(start + (end_max - start) / 4, end_max) * 10) / 10
    return start, max(start, end)


def where(annotation: Annotation) -> str:
    """Where on the image an annotation sits, in words (for reasoning that must not print numbers)."""
    x, y = annotation.centre
    row = "top" if y < 333 else "bottom" if y > 666 else "middle"
    col = "left" if x < 333 else "right" if x > 666 else "centre"
    if row == "middle" and col == "centre":
        return "the centre"
    if row == "middle":
        return f"the middle {col}"
    return f"the {row} {col}"
