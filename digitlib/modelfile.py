"""A trained model's file, model.keras: written atomically, and read back only once it looks like one.

Reading a file that came from anywhere: a regular file, a zip archive whose members do not inflate like a zip
bomb, never a legacy HDF5 file, then Keras' safe mode (no code from a Lambda layer), and the shapes of a digit
classifier. Training (an ensemble's members), predicting and the notebooks all load models through here.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from .layout import MODEL_FILE, REPORTS_DIR

if TYPE_CHECKING:
    import keras

TRAIN_FIRST = "run `make report` (or `digitlib report`) first"  # what a user with no trained model does
MAX_MODEL_MIB = 512  # uncompressed; an ensemble of 3 takes a few MB
MAX_INFLATION = 100  # Keras stores members uncompressed; zeros deflate 1,000-fold
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class ModelError(ValueError):
    """The model file is missing or is not a Keras model of ten digit classes; the message is one printable line."""

    def __init__(self, message: str):
        from .untrusted import printable

        super().__init__(printable(message))


def save_model(output_dir: str | os.PathLike, model: keras.Model) -> Path:
    """Write OUTPUT_DIR/model.keras atomically and durably: a reader never sees half a model, nor, after a power
    cut, an empty one (the file reaches the disk before its rename, as digitlib.atomic.write_atomic's do)."""
    path = Path(output_dir) / MODEL_FILE
    temporary = path.with_name(f".{MODEL_FILE}.{os.getpid()}.keras")  # Keras insists on the suffix
    try:
        model.save(temporary)
        with open(temporary, "rb") as saved:
            os.fsync(saved.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def model_file(path: str | os.PathLike) -> Path:
    """The saved model a path names: a run folder's model.keras (RUN/model.keras), any other path as it is."""
    path = Path(path)
    try:
        return path / MODEL_FILE if path.is_dir() else path
    except OSError as error:  # a name too long, a folder on the way without permission
        raise ModelError(f"{path}: cannot look at it ({error.strerror or error})") from None


def load_trained_model(path: str | os.PathLike) -> keras.Model:
    """Load a saved model.keras, with a clear error when it is missing or not a digit classifier."""
    from .untrusted import open_regular_file

    path = Path(path)
    if not path.exists():
        raise ModelError(f"model file not found: {path}; {TRAIN_FIRST} to train one (it saves "
                         f"{REPORTS_DIR}/<run>/model.keras), or point --model (in the notebook: model_path) at a "
                         "saved model.keras")
    try:
        with open_regular_file(path, ModelError) as file:
            refuse_legacy_hdf5(file, path)
            check_model_archive(file, path)
    except OSError as error:
        raise ModelError(f"{path}: cannot read the model file ({error.strerror or error})") from None
    import keras

    # registers digitlib's layers, loss and learning-rate schedule, so that a model using them loads
    from . import augmentation, losses, normalization, schedules  # noqa: F401
    from .models import jax_compilable

    try:
        with warnings.catch_warnings():  # jax_compilable below makes the model compilable again
            warnings.filterwarnings("ignore", message="Model doesn't support `jit_compile=True`")
            model = keras.saving.load_model(path, safe_mode=True)  # refuses the code a Lambda layer would carry
    except Exception as error:  # noqa: BLE001 - Keras raises many kinds for a bad file
        raise ModelError(f"{path}: not a Keras model file ({type(error).__name__}: {str(error)[:200]})") from None
    jax_compilable(model)
    if tuple(model.output_shape[1:]) != (10,) or tuple(model.input_shape[1:]) != (28, 28, 1):
        raise ModelError(f"{path}: expects {model.input_shape} and gives {model.output_shape}, "
                         "not 28x28x1 images to ten digit probabilities")
    return model


def refuse_legacy_hdf5(file: BinaryIO, path: Path) -> None:
    """Refuse an HDF5 (.h5) model, by its suffix or its signature: Keras loads those without its safe mode."""
    signature = file.read(len(HDF5_SIGNATURE))
    file.seek(0)
    if path.suffix.lower() in (".h5", ".hdf5") or signature == HDF5_SIGNATURE:
        raise ModelError(f"{path}: a legacy HDF5 model, which Keras loads without its safe mode (CVE-2025-9905); "
                         "re-save it as .keras with a Keras you trust: "
                         "keras.saving.load_model(OLD).save('model.keras')")


def check_model_archive(file: BinaryIO, path: Path) -> None:
    """Refuse a file that is not a zip archive, or whose members would inflate like a zip bomb, before Keras reads it.

    The sizes are those the archive declares: Python's zipfile never inflates a member past its declared size.
    """
    try:
        with zipfile.ZipFile(file) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError):
        raise ModelError(f"{path}: not a Keras model file (not a zip archive); pass a model.keras saved by "
                         "model.save()") from None
    inflated = sum(member.file_size for member in members)
    if inflated > MAX_MODEL_MIB * 2**20:
        raise ModelError(f"{path}: {inflated / 2**20:,.0f} MiB once uncompressed, more than the {MAX_MODEL_MIB} MiB "
                         "allowed for a model; refusing a possible zip bomb (check where the file came from)")
    for member in members:
        inflation = member.file_size / max(member.compress_size, 1)
        if member.file_size > 2**20 and inflation > MAX_INFLATION:
            raise ModelError(f"{path}: {member.filename} would inflate {inflation:,.0f}-fold, more than the "
                             f"{MAX_INFLATION}-fold allowed for a model; refusing a possible zip bomb "
                             "(check where the file came from)")
