"""The names of the reports folder and of the files in a run directory, defined once.

:mod:`digitlib.rundir` reads and lists run directories by these names; this module only names them,
so that everything (parameters' defaults included) can use them without importing anything.
"""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
# The notebooks: digitlib/notebooks/ when installed from a wheel (package data), else the checkout's notebooks/.
NOTEBOOKS = _PACKAGE / "notebooks" if (_PACKAGE / "notebooks").is_dir() else _PACKAGE.parent / "notebooks"

REPORTS_DIR = "reports"  # where runs go, unless --reports-dir says otherwise
LATEST = "latest"  # reports/latest: a link to the newest successful training run
DRAWINGS_DIR = "my_digits"  # where the drawing canvas keeps drawings unless told otherwise (from notebooks/)
BEST = "best"  # reports/best: a link to the best finished model (digitlib.rundir.best_model), what predict reads with
RUN_FILE = "run.json"  # what the run was asked to do and how it ended
METRICS_FILE = "metrics.json"  # what a finished training run scored, and how to reproduce it
MODEL_FILE = "model.keras"  # the trained model
ABSTENTION_FILE = "abstention.npz"  # the not-a-digit detector fitted on the model (digitlib.predict.abstention)
PREDICTIONS_FILE = "test_predictions.npz"  # every test image's predicted probabilities, with its index and label
NOTEBOOK_FILE = "notebook.ipynb"  # the executed notebook
REPORT_FILE = "report.html"  # the rendered report
MLFLOW_FILE = "mlflow.json"  # where the run was logged in MLflow (digitlib.run.tracking), when it was
KERNEL_LOG = "kernel.log"  # the kernel's native stderr: TensorFlow's start-up chatter, kept off the terminal
IMAGE_PREDICTIONS_FILE = "predictions.json"  # a prediction run's: each of your images' likeliest digits
# A training run's weights after its last finished epoch: after an even number of epochs in the first file, after
# an odd number in the second, so writing an epoch's weights never replaces those its checkpoint.json still counts
# on (a run killed between the two writes resumes from a matching pair).
CHECKPOINT_WEIGHTS = "checkpoint.weights.h5"
CHECKPOINT_WEIGHTS_ODD = "checkpoint-odd.weights.h5"
CHECKPOINT_STATE = "checkpoint.json"  # beside them: epochs done, their history and the random state, to resume from
MEMBERS_DIR = "members"  # an ensemble run's members, each in members/seed-N/ (MEMBER_PREFIX) with its checkpoint
MEMBER_PREFIX = "seed-"  # members/seed-N/: the member seeded N
MEMBER_FILE = "member.json"  # a finished member's record, beside its model.keras, shaped like a run's metrics.json
INDEX_FILE = "index.html"  # reports/index.html: one row per run
SWEEP_PREFIX = "sweep-"  # reports/sweep-NAME/: what sweep NAME leaves beside its runs
SWEEP_FILE = "sweep.json"  # reports/sweep-NAME/sweep.json: how each of its runs ended, and its comparison run
COMPARISON_LINK = "comparison.html"  # reports/sweep-NAME/comparison.html: a link to its comparison run's report
CLUSTER_TOKEN_PREFIX = ".cluster-"  # reports/.cluster-TOKEN: by which a Dask worker knows it sees the reports folder
LOCK_FILE = ".lock"  # reports/.lock: held while the index page and the latest and best links are rewritten

# The four files as published by Yann LeCun et al. (canonical SHA-256s).
IDX_FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

# What the reports folder keeps beside its runs, under names a run id could take: never runs themselves. Compared
# in lower case, as a case-insensitive file system (macOS's, Windows') compares them.
KEPT = {INDEX_FILE: "index page", LATEST: "link to the latest successful run", BEST: "link to the best finished model"}


def kept_for(name: str) -> str | None:
    """What the reports folder keeps under `name` (its index page, a link), or None: a name a run may take."""
    return KEPT.get(name.lower())
