"""JupyterLab's server settings for this project: `make lab` puts this folder on JUPYTER_CONFIG_PATH.

Notebooks are saved without outputs. A pre-save hook strips every notebook JupyterLab saves before it is
written, exactly as git's nbstripout filter strips it (scripts/git-filters: its strip() makes nbstripout's
Python call with the filter's options). So the file on disk never holds outputs: a notebook run top to bottom
and saved is, byte for byte, the committed one, and `git status` stays clean. The outputs stay in the open
browser tab; running the notebook again shows them again; the rendered reports (`digitlib report`) are where
outputs are kept.

A user's own settings (~/.jupyter, JUPYTER_CONFIG_DIR) come first: a pre_save_hook set there replaces this one.
"""

import importlib.util
import warnings
from importlib.machinery import SourceFileLoader
from pathlib import Path

GIT_FILTERS = Path(__file__).resolve().parents[1] / "git-filters"


def _git_filters():
    """scripts/git-filters as a module (its name has no .py, so it is loaded by path)."""
    loader = SourceFileLoader("digitlib_git_filters", str(GIT_FILTERS))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


_strip = _git_filters().strip


def strip_notebook_outputs(model, path, contents_manager, **kwargs):
    """ContentsManager.pre_save_hook: a notebook's model leaves with its outputs and counts stripped."""
    if model.get("type") == "notebook" and model.get("content") is not None:
        import nbformat

        model["content"] = _strip(nbformat.from_dict(model["content"]))
        contents_manager.log.debug("Saving %s without outputs (scripts/jupyter/jupyter_server_config.py)", path)


c = get_config()  # noqa: F821 (traitlets puts get_config into a config file's namespace)
c.ContentsManager.pre_save_hook = strip_notebook_outputs
# jupyter_server validates a configured hook after setting it, and so warns that it replaces itself; any other
# replacement still warns.
warnings.filterwarnings("ignore", category=UserWarning, message=r"Overriding existing pre_save_hook "
                        r"\(strip_notebook_outputs\) with a new one \(strip_notebook_outputs\)")
