"""What can be proved of the GPU trainer image without a GPU: run inside it (`docker run -i IMAGE python - < this`).

TensorFlow imports; the CUDA libraries it was built against come from its own CUDA wheels (`nvidia-*-cu12`, the
`and-cuda` extra less NCCL and cuRAND) and load; NCCL is inside TensorFlow's framework library and no TensorFlow
library names cuRAND or a NCCL library to open, which is why the image leaves their wheels out. The CUDA and cuDNN
versions TensorFlow was built for and those the wheels carry are printed as one JSON object. Exits non-zero when a
library is missing or fails to load, or when TensorFlow would look for a library the image left out.
"""

import ctypes
import importlib.metadata
import json
import sys
from pathlib import Path

import tensorflow as tf

# The libraries TensorFlow's GPU kernels open (its dso_loader), by the wheel that ships each.
LIBRARIES = {"nvidia-cuda-runtime-cu12": "libcudart.so.12", "nvidia-cublas-cu12": "libcublas.so.12",
             "nvidia-cudnn-cu12": "libcudnn.so.9", "nvidia-cufft-cu12": "libcufft.so.11",
             "nvidia-cusolver-cu12": "libcusolver.so.11", "nvidia-cusparse-cu12": "libcusparse.so.12",
             "nvidia-nvjitlink-cu12": "libnvJitLink.so.12"}
# What the image leaves out of `and-cuda`, and the bytes that would show TensorFlow still opening it.
LEFT_OUT = {"nvidia-nccl-cu12": b"libnccl.so", "nvidia-curand-cu12": b"curand"}
STATIC_NCCL = b"ncclDevKernel_AllReduce"  # NCCL's device kernels, linked into libtensorflow_framework.so.2


def _left_out_unused() -> list[str]:
    """Why leaving NCCL's and cuRAND's wheels out is safe; a reason for each that is not."""
    problems = [f"{name} is installed" for name in LEFT_OUT if _installed(name)]
    libraries = sorted(Path(tf.__file__).parent.rglob("*.so*"))
    for library in libraries:
        content = library.read_bytes()
        problems += [f"{library.name} names {needle.decode()} ({name} left out)"
                     for name, needle in LEFT_OUT.items() if needle in content]
    framework = Path(tf.sysconfig.get_lib()) / "libtensorflow_framework.so.2"
    if STATIC_NCCL not in framework.read_bytes():
        problems.append(f"{framework.name} does not carry NCCL: the image needs nvidia-nccl-cu12")
    return problems


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _wheel_library(distribution: str, filename: str) -> Path:
    files = importlib.metadata.files(distribution) or []
    found = [file.locate() for file in files if file.name == filename]
    if not found:
        raise FileNotFoundError(f"{distribution} ships no {filename}")
    return Path(found[0])


def main() -> int:
    """Print the report; non-zero exit when a CUDA library is missing or does not load."""
    build = tf.sysconfig.get_build_info()
    report = {"tensorflow": tf.__version__, "built_with_cuda": tf.test.is_built_with_cuda(),
              "built_for_cuda": build.get("cuda_version"), "built_for_cudnn": build.get("cudnn_version"),
              "gpus_visible": len(tf.config.list_physical_devices("GPU")), "wheels": {}, "loaded": {}}
    failed = []
    # Dependencies first (cuBLAS needs cuBLASLt, cuSOLVER needs cuBLAS and nvJitLink): load in this order.
    for distribution in sorted(LIBRARIES, key=lambda name: ("cublas" not in name and "nvjitlink" not in name, name)):
        try:
            report["wheels"][distribution] = importlib.metadata.version(distribution)
            path = _wheel_library(distribution, LIBRARIES[distribution])
            if distribution == "nvidia-cublas-cu12":
                ctypes.CDLL(str(path.with_name("libcublasLt.so.12")), mode=ctypes.RTLD_GLOBAL)
            ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
            report["loaded"][LIBRARIES[distribution]] = str(path)
        except (OSError, FileNotFoundError, importlib.metadata.PackageNotFoundError) as error:
            failed.append(f"{LIBRARIES[distribution]}: {error}")
    cudart = ctypes.CDLL("libcudart.so.12") if "libcudart.so.12" in report["loaded"] else None
    if cudart is not None:
        version = ctypes.c_int()
        cudart.cudaRuntimeGetVersion(ctypes.byref(version))
        report["cuda_runtime"] = f"{version.value // 1000}.{version.value % 1000 // 10}"
    if "libcudnn.so.9" in report["loaded"]:
        cudnn = ctypes.CDLL("libcudnn.so.9")
        cudnn.cudnnGetVersion.restype = ctypes.c_size_t
        value = cudnn.cudnnGetVersion()
        report["cudnn"] = f"{value // 10000}.{value % 10000 // 100}.{value % 100}"
    report["left_out"] = sorted(LEFT_OUT)
    failed += _left_out_unused()
    report["failed"] = failed
    print(json.dumps(report, indent=2))
    return 1 if failed or not report["built_with_cuda"] else 0


if __name__ == "__main__":
    sys.exit(main())
