"""JupyterLab's server settings for this project: `make lab` puts this folder on JUPYTER_CONFIG_PATH.

The project's notebooks are saved without outputs. A pre-save hook strips each notebook that git tracks in this
project's notebooks/ (the committed ones) before it is written, exactly as git's nbstripout filter strips it
(scripts/git-filters: its strip() makes nbstripout's Python call with the filter's options). So such a file on
disk never holds outputs: a notebook run top to bottom and saved is, byte for byte, the committed one, and
`git status` stays clean. The outputs stay in the open browser tab; running the notebook again shows them again;
the rendered reports (`digitlib report`) are where outputs are kept.

Every other notebook is saved exactly as JupyterLab sends it: one the user made (in notebooks/ or a subfolder, a
File → Duplicate of a committed one) keeps its outputs, execution counts and widget state, which are the user's
work and which nothing else holds (JupyterLab's checkpoint is a copy of the saved file). `git add` makes a notebook
the project's: from its next save on it is stripped. Which notebooks git tracks is asked of git (`git ls-files` in
this project's folder) at the first save and again whenever git's index changed since.

Where git cannot say (git is not installed, this folder is no git checkout, as an unpacked archive is not, or git
fails), nothing is stripped: a stripped output is lost for good, while one left in a notebook costs nothing
outside git, and in a checkout git's filter strips it on the way into a commit.

A user's own settings (~/.jupyter, JUPYTER_CONFIG_DIR) come first: a pre_save_hook set there replaces this one.
"""

import importlib.util
import os
import subprocess
import warnings
from importlib.machinery import SourceFileLoader
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
GIT_FILTERS = PROJECT / "scripts" / "git-filters"
NOTEBOOKS = "notebooks"  # the project's notebooks: those git tracks in this folder of PROJECT
GIT_SECONDS = 10  # the hook runs in the server's event loop: a git that hangs must not hang JupyterLab for long


def _load(name: str, path: Path):
    """The Python file at `path` as a module, loaded by path: scripts/git-filters has no .py; digitlib/untrusted.py
    without digitlib's package, whose import would set its environment defaults in the server."""
    loader = SourceFileLoader(name, str(path))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


_strip = _load("digitlib_git_filters", GIT_FILTERS).strip


class TrackedNotebooks:
    """The real paths of the files git tracks in PROJECT/notebooks; listed again only when git's index changed
    (every add, rm, commit or checkout writes a new index file and renames it into place: a new inode)."""

    def __init__(self):
        self.index = None  # git's index file, once git named it
        self.listed = None  # (the index's identity when listed, the paths then tracked)

    def git(self, *arguments: str) -> bytes:
        return subprocess.run(["git", "-C", str(PROJECT), *arguments], stdin=subprocess.DEVNULL,
                              capture_output=True, check=True, timeout=GIT_SECONDS).stdout

    def paths(self) -> frozenset:
        """What git tracks under notebooks/; raises OSError or SubprocessError where git cannot say."""
        if self.index is None:
            self.index = PROJECT / os.fsdecode(self.git("rev-parse", "--git-path", "index").rstrip(b"\n"))
        try:
            found = os.stat(self.index)
            identity = (found.st_ino, found.st_size, found.st_mtime_ns)
        except FileNotFoundError:  # a repository nothing was ever added to
            identity = None
        if self.listed is None or self.listed[0] != identity:
            root = os.path.realpath(PROJECT)
            listed = self.git("ls-files", "-z", "--", NOTEBOOKS).split(b"\0")
            self.listed = identity, frozenset(os.path.join(root, os.fsdecode(name)) for name in listed if name)
        return self.listed[1]

    def __contains__(self, os_path: str) -> bool:
        """Whether git tracks the file at `os_path` in notebooks/; raises as paths() does."""
        return os.path.realpath(os_path) in self.paths()


_tracked = TrackedNotebooks()
_told = set()  # why git could not say, as logged: each reason once, not at every autosave


def strip_notebook_outputs(model, path, contents_manager, **kwargs):
    """ContentsManager.pre_save_hook: a notebook git tracks in the project's notebooks/ leaves with its outputs and
    counts stripped; any other model is left as it came."""
    if model.get("type") != "notebook" or model.get("content") is None:
        return
    os_path = os.path.join(contents_manager.root_dir, *path.strip("/").split("/"))
    try:
        tracked = os_path in _tracked
    except (OSError, subprocess.SubprocessError) as error:
        said = getattr(error, "stderr", None)  # git's own reason: not a repository, dubious ownership, ...
        why = (os.fsdecode(said).strip().splitlines() or [str(error)])[-1] if said else str(error)
        if why not in _told:
            _told.add(why)
            printable = _load("digitlib_untrusted", PROJECT / "digitlib" / "untrusted.py").printable
            contents_manager.log.warning("Saving every notebook with its outputs: git cannot say which ones this "
                                         "project tracks in %s (%s). In a git clone of the project, with git "
                                         "installed, the committed notebooks are saved stripped.",
                                         printable(PROJECT / NOTEBOOKS), printable(why))
        return
    if tracked:
        import nbformat

        model["content"] = _strip(nbformat.from_dict(model["content"]))
        contents_manager.log.debug("Saving %s without outputs (scripts/jupyter/jupyter_server_config.py)", path)


c = get_config()  # noqa: F821 (traitlets puts get_config into a config file's namespace)
c.ContentsManager.pre_save_hook = strip_notebook_outputs
# jupyter_server validates a configured hook after setting it, and so warns that it replaces itself; any other
# replacement still warns.
warnings.filterwarnings("ignore", category=UserWarning, message=r"Overriding existing pre_save_hook "
                        r"\(strip_notebook_outputs\) with a new one \(strip_notebook_outputs\)")
