"""Decode, resize and encode the planned frames of a video with FFmpeg (PyAV); shared by build_tfrecords and prediction.

Which frames a clip takes is planned in `sampling.py`.

Frame numbers are 0-based positions in decode (presentation) order: frame `i` is the i-th frame that really decodes,
whatever the container header claims.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import av
import numpy as np
import simplejpeg

from movinet_pipeline.core.clients import storage
from movinet_pipeline.core.media.sampling import SamplingError, plan_clip_windows

# swscale's bilinear filter widens with the scale factor, so downscaling is anti-aliased, and it is faster than AREA
# (benchmarks/RESULTS.md, "Frame conversion").
INTERPOLATION = "BILINEAR"


class VideoDecodeError(RuntimeError):
    """A video could not be opened or decoded; the message says why in plain words."""


@dataclass(frozen=True)
class DecodedClip:
    """Frames sampled from one clip, with the source frame number of each."""

    frames: list  # resized: RGB uint8 arrays [H, W, 3], or JPEG bytes when read with a `jpeg_quality`
    frame_indices: list[int]
    fps: float


Converter = Callable[[av.VideoFrame], object]


def rgb_converter(short_side: int) -> Converter:
    """Decoded frame -> RGB uint8 [H, W, 3] with the short side `short_side` (one swscale pass)."""

    def convert(frame: av.VideoFrame) -> np.ndarray:
        width, height = resized_size(frame.width, frame.height, short_side)
        return frame.to_ndarray(width=width, height=height, format="rgb24", interpolation=INTERPOLATION)

    return convert


def jpeg_converter(short_side: int, quality: int) -> Converter:
    """Decoded frame -> JPEG bytes, straight from YUV planes.

    Decoded frame -> JPEG bytes with the short side `short_side` (both sides rounded up to even), encoded straight
    from full-range YUV 4:2:0 planes (what JPEG stores): swscale resizes in YUV and libjpeg-turbo skips its colour
    conversion (benchmarks/RESULTS.md, "Frame conversion").
    """

    def convert(frame: av.VideoFrame) -> bytes:
        # Even sides (rounded up): libjpeg-turbo reads past an odd-sized YUV plane, which made the bytes vary.
        width, height = (side + side % 2 for side in resized_size(frame.width, frame.height, short_side))
        scaled = frame.reformat(width=width, height=height, format="yuvj420p", interpolation=INTERPOLATION)
        sizes = ((width, height), (width // 2, height // 2), (width // 2, height // 2))
        planes = [np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:h, :w]
                  for plane, (w, h) in zip(scaled.planes, sizes)]
        return simplejpeg.encode_jpeg_yuv_planes(*planes, quality=quality)

    return convert


def resized_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) scaled so that the short side equals `short_side`, keeping aspect."""
    scale = short_side / min(width, height)
    if width <= height:
        return short_side, max(short_side, round(height * scale))
    return max(short_side, round(width * scale)), short_side


def _open(path: str) -> av.container.InputContainer:
    try:
        container = av.open(storage.open_read(path) if storage.is_remote(path) else path)
    except av.FFmpegError as error:
        raise VideoDecodeError(f"cannot open as video: {error}") from error
    if not container.streams.video:
        container.close()
        raise VideoDecodeError("file has no video stream")
    return container


@dataclass(frozen=True)
class StreamIndex:
    """Where every frame is, from demuxing alone (no decoding): frame i has presentation timestamp pts[i]."""

    pts: list[int]
    keyframes: list[int]  # frame numbers of keyframes, ascending

    @property
    def frames(self) -> int:
        return len(self.pts)

    def keyframe_at_or_before(self, frame: int) -> int:
        """The keyframe to seek to for `frame`."""
        return self.keyframes[max(0, bisect.bisect_right(self.keyframes, frame) - 1)] if self.keyframes else 0


def index_stream(container: av.container.InputContainer, stream: av.VideoStream) -> StreamIndex | None:
    """Index the stream's packets; None when packets carry no timestamps (then only sequential decoding is safe)."""
    entries = []
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            if packet.pts is None:
                return None
            entries.append((packet.pts, packet.is_keyframe))
    except av.FFmpegError:
        pass  # a damaged tail: index what demuxed
    entries.sort()
    return StreamIndex([pts for pts, _ in entries], [i for i, (_, key) in enumerate(entries) if key])


class _FrameReader:
    """Decodes requested frame numbers from an open stream.

    Decodes requested frame numbers from an open stream, seeking only when a keyframe lies between the current
    position and the next target (otherwise decoding forward is cheaper than a seek).
    """

    def __init__(self, container: av.container.InputContainer, convert: Converter, index: StreamIndex | None) -> None:
        self.container, self.convert, self.index = container, convert, index
        self.stream = container.streams.video[0]
        self.stream.thread_type = "AUTO"
        self.number_of_pts = {pts: i for i, pts in enumerate(index.pts)} if index else {}
        self.position = -1  # frame number of the last frame decoded
        self.floor = 0  # frames before this one (leading frames of an open GOP after a seek) are skipped
        self.frames: Iterator[av.VideoFrame] | None = None
        self.decoded_any = False

    def _seek(self, keyframe: int | None) -> None:
        if self.index is not None and keyframe is not None:
            self.container.seek(self.index.pts[keyframe], stream=self.stream, backward=True, any_frame=False)
            self.floor = keyframe
        self.frames = self.container.decode(self.stream)

    def _number(self, frame: av.VideoFrame) -> int | None:
        return self.number_of_pts.get(frame.pts) if self.index is not None else self.position + 1

    def read(self, targets: list[int]) -> dict[int, object]:
        """The frames at `targets` that decode (fewer when the stream ends or breaks early)."""
        wanted = set(targets)
        found: dict[int, object] = {}
        for target in sorted(wanted):
            if target <= self.position:
                continue
            keyframe = self.index.keyframe_at_or_before(target) if self.index is not None else None
            if self.frames is None or (keyframe is not None and keyframe > self.position):
                self._seek(keyframe)
            try:
                for frame in self.frames:
                    number = self._number(frame)
                    if number is None or number < self.floor or number <= self.position:
                        continue
                    self.position, self.decoded_any = number, True
                    if number in wanted:
                        found[number] = self.convert(frame)
                    if number >= target:
                        break
                else:
                    return found  # end of stream
            except av.FFmpegError as error:
                if not self.decoded_any:
                    raise VideoDecodeError(f"no frame decodes: {error}") from error
                return found  # a damaged tail: keep what decoded
        return found


def _decode(container: av.container.InputContainer, targets: list[int], convert: Converter,
            index: StreamIndex | None) -> tuple[dict[int, object], int]:
    """Decode the target frames; return them and the number of frames decoded up to the last one reached."""
    reader = _FrameReader(container, convert, index)
    found = reader.read(targets)
    if not reader.decoded_any:
        raise VideoDecodeError("the video holds no decodable frame")
    return found, reader.position + 1


# Decode the whole stream in one pass (no packet index, no seeks) when its header says it holds at most DENSE times
# the frames to sample: seeking could skip little, and an index costs a demux of the whole file. The targets planned
# from the header are converted on the fly; if the stream really holds another number of frames, they are planned
# again and decoded in a second pass (a header far off falls back to the indexed path).
DENSE = 3


def _header_frames(container: av.container.InputContainer, stream: av.VideoStream, fps: float) -> int | None:
    """The frame count the container claims (a hint only: headers can lie)."""
    if stream.frames:
        return stream.frames
    if container.duration and fps:
        return round(container.duration / 1_000_000 * fps)
    return None


def _decode_pass(container: av.container.InputContainer, wanted: set[int], convert: Converter,
                 limit: int) -> tuple[dict[int, object], int] | None:
    """Decode every frame in order, converting the wanted ones.

    Decode every frame in order, converting those in `wanted`; return them and the number of frames that
    decode (a damaged tail ends the pass). None when more than `limit` frames decode.
    """
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    found: dict[int, object] = {}
    count = 0
    try:
        for frame in container.decode(stream):
            if count in wanted:
                found[count] = convert(frame)
            count += 1
            if count > limit:
                return None
    except av.FFmpegError as error:
        if not count:
            raise VideoDecodeError(f"no frame decodes: {error}") from error
    if not count:
        raise VideoDecodeError("the video holds no decodable frame")
    return found, count


def _read_dense(path: str, container: av.container.InputContainer, claimed: int,
                plan: Callable[[int | None], list[int]],
                convert: Converter) -> tuple[list[int], dict[int, object]] | None:
    """One sequential pass over targets planned from the header's count (see DENSE); None if the header is far off."""
    targets = plan(claimed)
    passed = _decode_pass(container, set(targets), convert, limit=2 * claimed + 64)
    if passed is None:
        return None
    found, count = passed
    if count != claimed:  # the header was wrong: plan over the frames that really decode
        targets = plan(count)
        with _open(path) as fresh:
            found, _ = _decode(fresh, targets, convert, None)
    return targets, found


def _claimed_if_dense(container: av.container.InputContainer, stream: av.VideoStream, fps: float,
                      plan: Callable[[int | None], list[int]]) -> int | None:
    """The header's frame count when sampling is dense enough for one sequential pass, else None."""
    claimed = _header_frames(container, stream, fps)
    if not claimed:
        return None
    try:
        wanted = len(set(plan(claimed)))
    except VideoDecodeError:  # the header may understate the frames: let the index decide
        return None
    return claimed if claimed <= DENSE * wanted else None


def _read_frames(path: str, plan: Callable[[int | None], list[int]], convert: Converter) -> tuple[
        list[int], dict[int, object], float]:
    """Plan targets, decode them, and re-plan when the stream ends early.

    Plan targets from the real frame count (None if unknown), decode them, and re-plan over the frames that
    really decode when the stream ends early.
    """
    with _open(path) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        claimed = _claimed_if_dense(container, stream, fps, plan)
        if claimed is None:
            return _read_indexed(path, container, plan, convert) + (fps,)
        dense = _read_dense(path, container, claimed, plan, convert)
        if dense is not None:
            return dense + (fps,)
    with _open(path) as container:  # the header understated the frames by far: index them
        return _read_indexed(path, container, plan, convert) + (fps,)


def _read_indexed(path: str, container: av.container.InputContainer, plan: Callable[[int | None], list[int]],
                  convert: Converter) -> tuple[list[int], dict[int, object]]:
    """Targets planned over the packet index, decoded with keyframe-aware seeks (see `_FrameReader`)."""
    index = index_stream(container, container.streams.video[0])
    if index is not None and index.frames == 0:
        raise VideoDecodeError("the video holds no frame")
    targets = plan(index.frames if index else None)
    if index is not None:  # the reader seeks before decoding: reuse this container
        found, decoded = _decode(container, targets, convert, index)
    else:
        with _open(path) as fresh:
            found, decoded = _decode(fresh, targets, convert, None)
    if len(found) < len(set(targets)):
        targets = plan(decoded)
        with _open(path) as fresh:
            found, decoded = _decode(fresh, targets, convert, None)
        if len(found) < len(set(targets)):
            raise VideoDecodeError(f"decoding stopped after {decoded} frames on a second pass")
    return targets, found


def read_clips(
    path: str,
    start: int,
    end: int | None,
    count: int,
    short_side: int,
    sampling: str = "uniform",
    frame_step: int = 1,
    clips: int = 1,
    jpeg_quality: int | None = None,
) -> list[DecodedClip]:
    """Sample clips of `count` frames from a video, decoding every needed frame once.

    Sample clips of `count` frames from frames [start, end] (end inclusive; None = to the end) of the video at
    `path`, decoding every needed frame once; frames are RGB arrays, or JPEG bytes of `jpeg_quality`.

    Headers can lie about the frame count: clips are planned over the frames the stream really holds (counted by
    one sequential decode when sampling is dense, else from its packet index), and re-planned over the frames that
    really decode if decoding ends early.
    """
    windows: list[list[int]] = []

    def plan(frames: int | None) -> list[int]:
        try:
            windows[:] = plan_clip_windows(frames, start, end, count, sampling, frame_step, clips)
        except SamplingError as error:
            raise VideoDecodeError(str(error)) from None
        return [number for window in windows for number in window]

    convert = jpeg_converter(short_side, jpeg_quality) if jpeg_quality else rgb_converter(short_side)
    _, found, fps = _read_frames(path, plan, convert)
    return [DecodedClip(frames=[found[i] for i in window], frame_indices=window, fps=fps) for window in windows]


def read_clip(path: str, start: int, end: int | None, count: int, short_side: int, sampling: str = "uniform",
              frame_step: int = 1, jpeg_quality: int | None = None) -> DecodedClip:
    """One clip of `count` frames from frames [start, end] (see `read_clips`)."""
    return read_clips(path, start, end, count, short_side, sampling, frame_step, jpeg_quality=jpeg_quality)[0]


class FrameStream:
    """One video decoded front to back, converting only the frames asked for: memory holds one frame at a time.

    For long videos (temporal predictions), where planning clips over the whole video would hold all of them.
    Use as a context manager; `fps` is the stream's average frame rate (VideoDecodeError when it has none).
    """

    def __init__(self, path: str) -> None:
        self.container = _open(path)
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        self.fps = float(self.stream.average_rate or self.stream.guessed_rate or 0)
        if self.fps <= 0:
            self.container.close()
            raise VideoDecodeError("the video states no frame rate, which timing its segments needs")

    def __enter__(self) -> FrameStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.container.close()

    def frames(self, wanted: Callable[[int], bool], convert: Converter) -> Iterator[tuple[int, object | None]]:
        """(frame number, converted frame or None) for every decoded frame, in order; only `wanted` ones converted.

        A damaged tail ends the stream after the frames that decoded; a video where no frame decodes raises
        VideoDecodeError.
        """
        number = -1
        try:
            for number, frame in enumerate(self.container.decode(self.stream)):
                yield number, convert(frame) if wanted(number) else None
        except av.FFmpegError as error:
            if number < 0:
                raise VideoDecodeError(f"no frame decodes: {error}") from error
        if number < 0:
            raise VideoDecodeError("the video holds no decodable frame")
