"""The images as built: sizes, build times (cold and after a code-only edit), a run in them against a subprocess run.

    .venv/bin/python benchmarks/images.py [--runtimes pipeline trainer-cpu trainer] [--cold] [--runs 1]

1. sizes: each image (`docker image inspect`), its largest layers, and the dependency layer the trainers share
   with the pipeline image; the size of the CUDA libraries in the GPU trainer (what an nvidia/cuda base image would
   carry a second time under TensorFlow's own CUDA wheels, as the old trainer Dockerfile did);
2. build seconds: cold (`--cold`: `docker builder prune` of this project's stages, wheelhouse kept) and after a
   code-only edit (a comment appended to a source file, then restored);
3. `movinet-pipeline run` on the bundled sample with `--runner docker` against `--runner subprocess`, the same
   configuration, alternating, `--runs` times each: wall seconds and the ratio (goal at most 1.15x).
Needs the Docker daemon (images/start-docker.sh) and the images (make images).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EDITED = REPO / "movinet_pipeline" / "core" / "layouts.py"
CUDA_FOLDERS = ("cublas", "cuda_runtime", "cudnn", "cufft", "cusolver", "cusparse", "nvjitlink",
                "cuda_cupti", "cuda_nvrtc", "cuda_nvcc")


def _image_name(runtime: str) -> str:
    sys.path.insert(0, str(REPO))
    from movinet_pipeline.core.images import image

    return image(runtime)


def sizes(runtimes: list[str]) -> None:
    """Print each image's size and its three largest layers."""
    for runtime in runtimes:
        reference = _image_name(runtime)
        details = json.loads(subprocess.run(["docker", "image", "inspect", reference], capture_output=True,
                                            text=True, check=True).stdout)[0]
        history = subprocess.run(["docker", "history", "--no-trunc", "--format", "{{.Size}}\t{{.CreatedBy}}",
                                  reference], capture_output=True, text=True, check=True).stdout.splitlines()
        print(f"{runtime:12s} {details['Size'] / 1e9:5.2f} GB  {reference}")
        for line in sorted(history, key=lambda text: -_bytes(text.split("\t")[0]))[:3]:
            size, command = line.split("\t", 1)
            print(f"    {size:>8s}  {command[:110]}")
    if "trainer" in runtimes:
        folders = " ".join(f"/opt/venv/lib/python3.11/site-packages/nvidia/{name}" for name in CUDA_FOLDERS)
        listing = subprocess.run(["docker", "run", "--rm", "--network", "none", _image_name("trainer"), "sh", "-c",
                                  f"du -scm {folders} 2>/dev/null | tail -1"], capture_output=True, text=True)
        print(f"CUDA wheels in the GPU trainer: {listing.stdout.split()[0]} MB (an nvidia/cuda cudnn-runtime base "
              "would carry the same libraries again)")


def _bytes(size: str) -> float:
    units = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}
    for unit in sorted(units, key=len, reverse=True):
        if size.endswith(unit):
            return float(size[: -len(unit)]) * units[unit]
    return 0.0


def build(runtimes: list[str]) -> float:
    """Seconds `images/build.py` takes for these images."""
    started = time.monotonic()
    subprocess.run([sys.executable, str(REPO / "images" / "build.py"), *runtimes], check=True,
                   stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def build_times(runtimes: list[str], cold: bool) -> None:
    """Cold (optional) and code-edit rebuild seconds."""
    if cold:
        for runtime in runtimes:
            subprocess.run(["docker", "rmi", "--force", _image_name(runtime)], capture_output=True)
        subprocess.run(["docker", "builder", "prune", "--all", "--force"], capture_output=True, check=True)
        subprocess.run(["docker", "image", "prune", "--force"], capture_output=True, check=True)
        print(f"cold build of {' + '.join(runtimes)}: {build(runtimes):.0f} s (wheelhouse already on the host)")
    original = EDITED.read_text()
    try:
        EDITED.write_text(original + f"# code-only edit {time.time()}\n")
        print(f"rebuild of {' + '.join(runtimes)} after a code-only edit: {build(runtimes):.1f} s")
    finally:
        EDITED.write_text(original)


def run_seconds(runner: str, scratch: Path, index: int) -> float:
    """Wall seconds of `movinet-pipeline run` on the sample with this runner."""
    output = scratch / f"{runner}-{index}"
    started = time.monotonic()
    completed = subprocess.run([sys.executable, "-m", "movinet_pipeline.app.cli", "run", "--runner", runner,
                                "--output", str(output), "--run-id", f"bench-{runner}-{index}"],
                               cwd=REPO, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if completed.returncode != 0:
        raise SystemExit(f"{runner} run failed: {completed.stderr[-2000:]}")
    top1 = next(line for line in completed.stdout.splitlines() if line.startswith("Evaluation on"))
    print(f"  {runner:10s} run {index}: {seconds:6.1f} s  {top1}")
    return seconds


def runs(count: int) -> None:
    """The container run against the subprocess run, alternating."""
    times: dict[str, list[float]] = {"subprocess": [], "docker": []}
    with tempfile.TemporaryDirectory(prefix="images-bench-") as scratch:
        for index in range(count):
            for runner in times:
                times[runner].append(run_seconds(runner, Path(scratch), index))
    best = {runner: min(values) for runner, values in times.items()}
    print(f"run on the sample, best of {count}: subprocess {best['subprocess']:.1f} s, docker {best['docker']:.1f} s"
          f" -> docker / subprocess = {best['docker'] / best['subprocess']:.2f}x")


def main() -> None:
    """Measure what the flags ask for."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runtimes", nargs="+", default=["pipeline", "trainer-cpu"])
    parser.add_argument("--cold", action="store_true", help="also time a build with an empty layer cache")
    parser.add_argument("--runs", type=int, default=1, help="sample runs per runner (0: none)")
    args = parser.parse_args()
    sizes(args.runtimes)
    build_times(args.runtimes, args.cold)
    if args.runs:
        runs(args.runs)


if __name__ == "__main__":
    main()
