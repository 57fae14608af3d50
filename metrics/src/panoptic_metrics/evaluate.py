"""Dataset evaluation over worker processes.

Workers decode and match image pairs and send back only each image's small state
(`ImageStats`, a few hundred bytes; for mask AP also the gt's instances as compressed RLEs,
taken from the same decoded map); the parent adds them in dataset order, so the results are
bit-identical whatever the number of workers. Each worker reuses its id-map buffers across
images, and nothing of an image outlives its match but its small state, which the parent keeps
in flat arrays (`image_states.ImageStates`). The input is flat arrays too (`readers.coco`: the
parsed JSON is freed, and its memory handed back, before the workers are forked), and a pair's
sources are built only when a worker takes it, so the memory of the process tree barely grows
with the dataset (benchmark/README.md, "Memory").
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from . import kernels, matching
from .accumulator import PanopticAccumulator
from .boundary import DEFAULT_DILATION_RATIO, check_dilation_ratio
from .categories import CategorySet
from .coco_instances import ImageInstances
from .errors import PanopticInputError
from .groups import CITYSCAPES_GROUPS
from .io import DEFAULT_MAX_PIXELS
from .matching import ImageStats, Mode, check_mode, match_image
from .panoptic_instances import instances_from_panoptic
from .readers.cityscapes import cityscapes_categories, cityscapes_sources
from .readers.coco import load_coco_panoptic, pair_images
from .results import PanopticResults
from .segmentation import PanopticImage, Segments
from .thresholds import IOU_THRESHOLDS

log = logging.getLogger(__name__)


class ImageSource(Protocol):
    """Anything that loads one image lazily (in a worker): COCO PNG, Cityscapes instanceIds."""

    def load(
        self,
        *,
        expected_shape: tuple[int, int] | None = None,
        out: np.ndarray | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> PanopticImage: ...


Pair = tuple[ImageSource, ImageSource]


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


@dataclass(frozen=True, kw_only=True)
class MatchSettings:
    """What every worker needs to match an image pair (sent to each worker once)."""

    categories: CategorySet
    mode: Mode = "strict"
    n_bins: int = 20  # bins of the best-overlap IoU histogram
    max_pixels: int = DEFAULT_MAX_PIXELS  # the decompression-bomb limit per PNG
    thing_ids: tuple[int, ...] | None = None  # also extract these things' gt instances (mask AP)
    dilation_ratio: float | None = None  # also Boundary PQ with this band width; None: not

    def match(self, gt: PanopticImage, pred: PanopticImage) -> ImageStats:
        """`match_image` of a pair with these settings."""
        return match_image(
            gt,
            pred,
            self.categories,
            mode=self.mode,
            n_bins=self.n_bins,
            dilation_ratio=self.dilation_ratio,
        )


Matched = tuple[ImageStats, ImageInstances | None]  # an image's PQ state, its gt instances


class _Worker:
    """Per-process state: the evaluation settings and two id-map buffers reused across images
    (a fresh ~8 MiB buffer per image costs page faults: benchmark/README.md, reference profile)."""

    def __init__(self, settings: MatchSettings):
        self.settings = settings
        self.buffers: list[np.ndarray] | None = None

    def _load(self, source: ImageSource, shape: tuple[int, int] | None, slot: int) -> PanopticImage:
        out = None if self.buffers is None else self.buffers[slot]
        max_pixels = self.settings.max_pixels
        try:
            return source.load(expected_shape=shape, out=out, max_pixels=max_pixels)
        except PanopticInputError:
            raise
        except ValueError:  # `out` has another size: a new image size, so new buffers
            if out is None:
                raise
        image = source.load(expected_shape=shape, max_pixels=max_pixels)
        self.buffers = [np.empty(image.ids.shape, np.uint32) for _ in range(2)]
        return image

    def __call__(self, pair: Pair, ready: Callable[[], object] | None = None) -> Matched:
        """Match one pair; with `thing_ids`, also the gt's instances for mask AP (from the
        same decoded map, before its buffer is reused). `ready`, if given, is called between
        decoding and matching (see `_compile_beside`)."""
        settings = self.settings
        gt = self._load(pair[0], None, 0)
        pred = self._load(pair[1], gt.ids.shape, 1)
        if self.buffers is None:
            self.buffers = [np.empty(gt.ids.shape, np.uint32) for _ in range(2)]
        if ready is not None:
            ready()
        stats = settings.match(gt, pred)
        if settings.thing_ids is None:
            return stats, None
        return stats, instances_from_panoptic(gt, settings.thing_ids)


_WORKER: _Worker | None = None
_PAIRS: Sequence[Pair] | None = None  # a forked worker's copy of the parent's pairs

# At most this many pairs per pool task: one message each way for up to 32 images, instead
# of pickling every pair's sources (paths, segment arrays) in the parent.
MAX_BATCH = 32


def _compile_beside(settings: MatchSettings) -> Callable[[], None] | None:
    """On a first run, start compiling the matching kernels beside this process; returns
    what to call between decoding the first pair and matching it (`_Worker`'s `ready`).

    A first run compiles the PNG decoder's kernel, the intersection table's, the matching's
    and the error decomposition's, about 1, 1, 2 and 1 s, one after the other. Here a forked
    process compiles the intersection and matching kernels into numba's cache (matching a
    tiny pair made here, through the code path of every pair, so the kernels get the
    signatures the data needs) while this one decodes its first pair and then compiles the
    decomposition's on the tiny pair; `ready` waits for the process, and the first pair loads
    its kernels from the cache. Each kernel is still compiled once. With Boundary PQ the
    process matches the whole tiny pair (its band kernels too) and this one only waits.

    None where there is nothing to gain: the matching kernels are in the cache already, the
    kernels are not cached at all, one core only, or no fork (another start method chosen,
    or a platform without it).
    """
    if available_cores() < 2 or multiprocessing.get_start_method(allow_none=True) not in (
        None,
        "fork",
    ):
        return None
    if "fork" not in multiprocessing.get_all_start_methods() or not _matching_uncached():
        return None
    process = multiprocessing.get_context("fork").Process(
        target=_head_start, args=(_match_tiny, settings), name="panoptic-metrics-compile"
    )
    process.daemon = True
    process.start()

    def ready() -> None:
        if settings.dilation_ratio is None:
            _head_start(_errors_tiny, settings)
        process.join()

    return ready


def _matching_uncached() -> bool:
    """Whether none of the matching kernels has an entry in numba's on-disk cache (numba's
    internals, read defensively: anything unexpected counts as cached)."""
    dispatchers: tuple[Any, ...] = (kernels.intersection_table, kernels.match_segments)
    try:
        return not any(os.path.exists(k._cache._cache_file._index_path) for k in dispatchers)
    except AttributeError:  # an uncached kernel (no cache directory) or another numba
        return False


def _head_start(part: Callable[[MatchSettings], None], settings: MatchSettings) -> None:
    """Run one part of the compiling beside; silent on failure: whatever it did not compile,
    the first pair compiles."""
    try:
        part(settings)
    except Exception:  # only a head start: never an error of the evaluation
        log.debug("compiling beside the first pair failed", exc_info=True)


def _tiny_pair(settings: MatchSettings) -> tuple[PanopticImage, PanopticImage]:
    """A 2x2 pair of one segment of the first category, typed as a decoded pair is."""
    segments = Segments(
        np.array([1], np.int64),
        np.array([settings.categories.ids[0]], np.int64),
        np.array([False]),
        np.array([-1], np.int64),
    )
    image = PanopticImage(np.ones((2, 2), np.uint32), segments)
    return image, image


def _match_tiny(settings: MatchSettings) -> None:
    """The forked process's part: the intersection and matching kernels, or with Boundary PQ
    the whole matching (`match_image`)."""
    gt, pred = _tiny_pair(settings)
    if settings.dilation_ratio is not None:
        settings.match(gt, pred)
        return
    tables = matching._tables(gt, pred, settings.categories, settings.mode)
    matching._match(tables, settings.categories, settings.mode, settings.n_bins)


def _errors_tiny(settings: MatchSettings) -> None:
    """This process's part: the error decomposition's kernel (on the tiny pair's table,
    written here: counting it would compile the intersection kernel a second time)."""
    gt, pred = _tiny_pair(settings)
    table = np.zeros((2, 2), np.int64)  # as `kernels.intersection_table` makes it
    table[1, 1] = gt.ids.size
    tables = matching._tables(gt, pred, settings.categories, settings.mode, table=table)
    matching._errors(tables, settings.categories, settings.mode)


def _init_worker(settings: MatchSettings, pairs: Sequence[Pair] | None) -> None:
    global _WORKER, _PAIRS
    _WORKER = _Worker(settings)
    _PAIRS = pairs


Task = range | list[Pair]  # a pool task: indices into the inherited pairs, or the pairs


def _run(task: Task) -> list[Matched]:
    """One pool task: a range of indices into the inherited pairs (forked workers), or the
    pairs themselves (spawned ones)."""
    assert _WORKER is not None, "worker not initialised"
    if isinstance(task, range):
        assert _PAIRS is not None, "worker has no pairs"
        return [_WORKER(_PAIRS[i]) for i in task]
    return [_WORKER(pair) for pair in task]


def _batches(start: int, stop: int, workers: int) -> list[range]:
    """[start, stop) cut into consecutive ranges of at most `MAX_BATCH` pairs, shrinking
    towards the end (a quarter of what is left per worker), so that no worker is left with
    a long batch while the others have finished."""
    batches = []
    while start < stop:
        size = max(1, min(MAX_BATCH, (stop - start) // (workers * 4)))
        batches.append(range(start, start + size))
        start += size
    return batches


def _progress(items: Iterator[Matched], total: int, enabled: bool) -> Iterable[Matched]:
    if not enabled:
        return items
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is an optional extra
        return items
    bar: Iterable[Matched] = tqdm(items, total=total, desc="panoptic", unit="img", leave=False)
    return bar


def match_pairs(
    pairs: Sequence[Pair], settings: MatchSettings, *, workers: int | None, progress: bool
) -> Iterator[Matched]:
    """Each pair's state (and gt instances, see `MatchSettings`), in dataset order, computed
    by `workers` processes (default all available cores; 1 runs in this process)."""
    check_mode(settings.mode)
    workers = available_cores() if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    workers = min(workers, max(1, len(pairs)))
    start = time.perf_counter()
    if not pairs:
        return
    # The first pair here, before the workers start: it compiles (or loads from numba's cache)
    # exactly the kernels and signatures this data needs, once; forked workers inherit them,
    # spawned ones load them from the cache it wrote. On a first run the matching kernels
    # compile in another process meanwhile.
    worker = _Worker(settings)
    first = worker(pairs[0], ready=_compile_beside(settings))
    if workers == 1:
        rest: Iterator[Matched] = map(worker, (pairs[i] for i in range(1, len(pairs))))
        yield from _progress(itertools.chain([first], rest), len(pairs), progress)
    else:
        del worker  # its buffers: the workers have their own
        context = multiprocessing.get_context()
        # Forked workers inherit the pairs (nothing pickled): a task is then a range of
        # indices; spawned ones get each batch's pairs. Results come back per batch, in order.
        forked = context.get_start_method() == "fork"
        batches = _batches(1, len(pairs), workers)
        tasks: list[Task] = list(batches)
        if not forked:
            tasks = [[pairs[i] for i in batch] for batch in batches]
        inherited = pairs if forked else None
        with context.Pool(workers, _init_worker, (settings, inherited)) as pool:
            results = itertools.chain.from_iterable(pool.imap(_run, tasks))
            yield from _progress(itertools.chain([first], results), len(pairs), progress)
    elapsed = time.perf_counter() - start
    log.info("evaluated %d images with %d workers in %.2f s", len(pairs), workers, elapsed)


def evaluate_pairs(
    pairs: Sequence[Pair],
    categories: CategorySet,
    *,
    mode: Mode = "strict",
    workers: int | None = None,
    progress: bool = True,
    n_bins: int = 20,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    iou_thresholds: Iterable[float] = IOU_THRESHOLDS,
    groups: Mapping[str, Sequence[int]] | None = None,
    boundary: bool = False,
    dilation_ratio: float = DEFAULT_DILATION_RATIO,
) -> PanopticResults:
    """Evaluate (ground truth, prediction) image sources, in parallel.

    Args:
        pairs: sources with a `load()` method, e.g. from `load_coco_panoptic`.
        categories: the evaluated classes.
        mode: "strict" (panopticapi) or "pixels".
        workers: worker processes; default all available cores; 1 runs in this process.
        progress: show a tqdm progress bar (when tqdm is installed).
        n_bins: bins of the best-overlap IoU histogram.
        max_pixels: the decompression-bomb limit per PNG.
        iou_thresholds: the IoU thresholds of `pq_at`, each in [0.5, 1).
        groups: class groups {name: category ids} for PQ per group (`groups` of the results).
        boundary: also compute Boundary PQ (`boundary` of the results).
        dilation_ratio: its band width as a fraction of the image diagonal (default 0.02).
    """
    settings = MatchSettings(
        categories=categories,
        mode=mode,
        n_bins=n_bins,
        max_pixels=max_pixels,
        dilation_ratio=boundary_ratio(boundary, dilation_ratio),
    )
    return evaluate_with(
        pairs,
        settings,
        workers=workers,
        progress=progress,
        iou_thresholds=iou_thresholds,
        groups=groups,
    )


def evaluate_with(
    pairs: Sequence[Pair],
    settings: MatchSettings,
    *,
    workers: int | None,
    progress: bool,
    iou_thresholds: Iterable[float] = IOU_THRESHOLDS,
    groups: Mapping[str, Sequence[int]] | None = None,
) -> PanopticResults:
    """`evaluate_pairs` with its matching options as one `MatchSettings`."""
    accumulator = PanopticAccumulator(
        settings.categories,
        mode=settings.mode,
        n_bins=settings.n_bins,
        iou_thresholds=iou_thresholds,
        boundary=settings.dilation_ratio is not None,
        dilation_ratio=settings.dilation_ratio or DEFAULT_DILATION_RATIO,
    )
    for stats, _ in match_pairs(pairs, settings, workers=workers, progress=progress):
        accumulator.add(stats)
    results = accumulator.compute()
    return results if groups is None else results.with_groups(groups)


def boundary_ratio(boundary: bool, dilation_ratio: float) -> float | None:
    """`MatchSettings.dilation_ratio` of the public keywords: the checked ratio, or None."""
    return check_dilation_ratio(dilation_ratio) if boundary else None


def coco_pairs(
    gt_json: str | os.PathLike[str],
    gt_folder: str | os.PathLike[str],
    pred_json: str | os.PathLike[str],
    pred_folder: str | os.PathLike[str],
) -> tuple[Sequence[Pair], CategorySet]:
    """The (gt, prediction) sources of two COCO-panoptic sets, and the gt's categories."""
    gt = load_coco_panoptic(gt_json, gt_folder)
    if gt.categories is None:
        raise PanopticInputError(str(gt_json), "the ground-truth JSON has no 'categories'")
    pred = load_coco_panoptic(pred_json, pred_folder, categories=gt.categories)
    pairs = pair_images(gt.images, pred.images, gt_name=str(gt_json), pred_name=str(pred_json))
    return pairs, gt.categories


def evaluate_coco(
    gt_json: str | os.PathLike[str],
    gt_folder: str | os.PathLike[str],
    pred_json: str | os.PathLike[str],
    pred_folder: str | os.PathLike[str],
    *,
    mode: Mode = "strict",
    workers: int | None = None,
    progress: bool = True,
    n_bins: int = 20,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    iou_thresholds: Iterable[float] = IOU_THRESHOLDS,
    groups: Mapping[str, Sequence[int]] | None = None,
    boundary: bool = False,
    dilation_ratio: float = DEFAULT_DILATION_RATIO,
) -> PanopticResults:
    """Evaluate COCO-panoptic predictions against COCO-panoptic ground truth.

    The categories are the ground truth's; the keywords are those of `evaluate_pairs`.
    """
    pairs, categories = coco_pairs(gt_json, gt_folder, pred_json, pred_folder)
    settings = MatchSettings(
        categories=categories,
        mode=mode,
        n_bins=n_bins,
        max_pixels=max_pixels,
        dilation_ratio=boundary_ratio(boundary, dilation_ratio),
    )
    return evaluate_with(
        pairs,
        settings,
        workers=workers,
        progress=progress,
        iou_thresholds=iou_thresholds,
        groups=groups,
    )


def evaluate_cityscapes(
    gt_folder: str | os.PathLike[str],
    pred_json: str | os.PathLike[str],
    pred_folder: str | os.PathLike[str],
    *,
    mode: Mode = "strict",
    workers: int | None = None,
    progress: bool = True,
    n_bins: int = 20,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    iou_thresholds: Iterable[float] = IOU_THRESHOLDS,
    groups: Mapping[str, Sequence[int]] | None = CITYSCAPES_GROUPS,
    boundary: bool = False,
    dilation_ratio: float = DEFAULT_DILATION_RATIO,
) -> PanopticResults:
    """Evaluate COCO-panoptic predictions against Cityscapes `*_gtFine_instanceIds.png`
    (e.g. `gtFine/val`), with the 19 Cityscapes evaluation classes and, by default, PQ per
    Cityscapes category (`groups`); the keywords are those of `evaluate_pairs`."""
    categories = cityscapes_categories()
    gt = cityscapes_sources(gt_folder)
    pred = load_coco_panoptic(pred_json, pred_folder, categories=categories)
    pairs = pair_images(gt, pred.images, gt_name=str(Path(gt_folder)), pred_name=str(pred_json))
    settings = MatchSettings(
        categories=categories,
        mode=mode,
        n_bins=n_bins,
        max_pixels=max_pixels,
        dilation_ratio=boundary_ratio(boundary, dilation_ratio),
    )
    return evaluate_with(
        pairs,
        settings,
        workers=workers,
        progress=progress,
        iou_thresholds=iou_thresholds,
        groups=groups,
    )
