"""Which Keras backend a run trains with, and the environment its notebook's kernel starts in.

Keras 3 runs the same models on TensorFlow and JAX. A run's backend is chosen before its kernel starts
(``--backend``, else ``$KERAS_BACKEND``, else Keras' own ``~/.keras/keras.json``, else TensorFlow) and is
part of its identity. This module imports neither: it only names and checks.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from .params import ParameterError

BACKENDS = ("tensorflow", "jax")
DEFAULT_BACKEND = "tensorflow"
EARLIER_RUNS_BACKEND = "tensorflow"  # runs recorded before the backend was: they all trained with TensorFlow

# A GPU run takes device memory as it needs it instead of all of it up front, so two runs can share a
# card. Set for every kernel (and for a notebook opened by hand, when digitlib is imported) unless the
# user chose otherwise.
GPU_MEMORY_ON_DEMAND = {"TF_FORCE_GPU_ALLOW_GROWTH": "true", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
# XLA (JAX's compiler, and TensorFlow's when it compiles) picks deterministic GPU kernels: the same seed
# on the same GPU gives the same numbers. CPUs are deterministic anyway.
DETERMINISTIC_XLA = "--xla_gpu_deterministic_ops=true"
# TensorFlow's C++ log messages below FATAL stay quiet: the failed cuInit of its GPU probe on a machine without
# one, grappler's "NodeDef mentions attribute use_unbounded_threadpool", oneDNN notes. A kernel copies them into
# the notebook as stderr (JupyterLab's red boxes); what goes wrong still raises in Python, and a crash still
# says why. Level 3 keeps out ERROR lines too, which both of those are. $TF_CPP_MIN_LOG_LEVEL set by the user
# wins (0 shows everything). The few lines TensorFlow's absl logs while it loads, before its logging reads the
# variable ("All log messages before absl::InitializeLog()", "Could not find cuda drivers") are not covered.
QUIET_NATIVE_LOGS = {"TF_CPP_MIN_LOG_LEVEL": "3"}
# OpenMP threads (scikit-learn's t-SNE in "What it learned") sleep while they wait for each other instead of spinning:
# spinning, two threads beside anything else busy on a 2-core machine (the Keras backend's own threads, another
# run) took the map 2-4 times as long; sleeping, they cost nothing when the cores are free (bench/representation.py).
# Read when the OpenMP runtime loads, so importing digitlib sets it, as for a kernel; a user's own setting wins.
PASSIVE_OPENMP = {"OMP_WAIT_POLICY": "PASSIVE"}
# glibc's malloc hands the free memory at the top of a heap back to the kernel at once, and above 128 KiB it maps
# each block afresh. TensorFlow frees each training step's tensors and allocates them again in the next step,
# from several threads' heaps: every step then faults its memory in again, page by page. In an epoch of `fast` on
# a 2-core VM that was 6.2 million page faults and 21 s of system time, the epoch 31.4 s against 20.0 s with glibc
# keeping up to :data:`KEPT_FREE_BYTES` at each heap's top for the next step and serving blocks up to
# :data:`HEAP_BLOCK_BYTES` from the heap (bench/results/allocator.md). The same numbers come out either way.
# Set with mallopt when digitlib is imported; where the user has tuned malloc ($MALLOC_TOP_PAD_,
# $MALLOC_MMAP_THRESHOLD_, $GLIBC_TUNABLES' glibc.malloc), or the C library is not glibc, nothing changes.
KEPT_FREE_BYTES = 64 * 2**20
HEAP_BLOCK_BYTES = 32 * 2**20  # as far as glibc itself would raise its mmap threshold (64-bit)
_M_TOP_PAD, _M_MMAP_THRESHOLD = -2, -3  # malloc.h


def native_log_defaults(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """TensorFlow's C++ log level (:data:`QUIET_NATIVE_LOGS`), where `environ` has not chosen one."""
    return {name: environ.get(name, value) for name, value in QUIET_NATIVE_LOGS.items()}


def gpu_defaults(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """GPU memory on demand and deterministic XLA GPU ops, quiet native logs (:func:`native_log_defaults`,
    which includes the GPU probe's) and OpenMP threads that wait asleep (:data:`PASSIVE_OPENMP`), where
    `environ` has not chosen otherwise.

    Every kernel starts with them (:func:`kernel_environment`), and importing digitlib sets them, so a notebook
    opened in JupyterLab, which imports digitlib before Keras, gets them too.
    """
    values = {name: environ.get(name, value) for name, value in GPU_MEMORY_ON_DEMAND.items()}
    flags = environ.get("XLA_FLAGS", "")
    values["XLA_FLAGS"] = flags if "xla_gpu_deterministic_ops" in flags else f"{flags} {DETERMINISTIC_XLA}".strip()
    openmp = {name: environ.get(name, value) for name, value in PASSIVE_OPENMP.items()}
    return {**values, **native_log_defaults(environ), **openmp}


def keep_freed_memory(environ: Mapping[str, str] = os.environ) -> bool:
    """Ask glibc's malloc to keep freed memory for reuse (:data:`KEPT_FREE_BYTES`, :data:`HEAP_BLOCK_BYTES`) in this
    process; False, changing nothing, where the C library is not glibc or `environ` tunes malloc itself."""
    tuned = ("MALLOC_TOP_PAD_" in environ or "MALLOC_MMAP_THRESHOLD_" in environ
             or "glibc.malloc." in environ.get("GLIBC_TUNABLES", ""))
    try:
        glibc = (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (AttributeError, ValueError, OSError):  # not a POSIX system, or no such name
        glibc = False
    if tuned or not glibc:
        return False
    import ctypes

    mallopt = ctypes.CDLL(None).mallopt
    done = [mallopt(option, value) for option, value in ((_M_MMAP_THRESHOLD, HEAP_BLOCK_BYTES),
                                                         (_M_TOP_PAD, KEPT_FREE_BYTES))]
    return all(done)  # mallopt returns 1 on success


def configured_backend() -> str:
    """The backend Keras would pick in a new process, found as Keras finds it, without importing Keras:
    $KERAS_BACKEND, else ~/.keras/keras.json (or $KERAS_HOME's), else TensorFlow."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    config = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "keras.json"
    try:
        backend = json.loads(config.read_text(encoding="utf-8")).get("backend")
    except (OSError, ValueError, AttributeError):
        backend = None
    return backend if isinstance(backend, str) and backend else DEFAULT_BACKEND


def choose_backend(requested: str | None = None) -> str:
    """`requested` (the --backend flag or a sweep's `backend` key), else the configured one; checked."""
    backend = requested if requested is not None else configured_backend()
    if backend not in BACKENDS:
        where = "" if requested is not None else " (from $KERAS_BACKEND or ~/.keras/keras.json)"
        raise ParameterError(f"unknown Keras backend {backend!r}{where}; choose one of: {', '.join(BACKENDS)}")
    return backend


def kernel_environment(backend: str) -> dict[str, str]:
    """The variables a notebook kernel that trains with `backend` is started with."""
    return {"KERAS_BACKEND": backend, **gpu_defaults()}


@contextmanager
def environment(variables: dict[str, str]) -> Iterator[None]:
    """Set `variables` in os.environ (which a kernel started now inherits), and restore them afterwards."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
