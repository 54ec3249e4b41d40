import os
import stat
import subprocess
import sys

from digitlib.run.native import native_stderr_discarded, native_stderr_to


def _write_native(text: str) -> None:
    os.write(2, text.encode())


def test_native_output_goes_to_the_log_and_back(tmp_path, capfd):
    log = tmp_path / "kernel.log"
    log.write_text("earlier\n")
    with native_stderr_to(log):
        _write_native("oneDNN chatter\n")
    _write_native("after\n")
    assert log.read_text() == "earlier\noneDNN chatter\n"  # appended
    assert "after" in capfd.readouterr().err


def test_a_planted_link_is_replaced_not_written_through(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("the user's file\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / "kernel.log").symlink_to(outside)
    with native_stderr_to(run / "kernel.log"):
        _write_native("chatter\n")
    assert outside.read_text() == "the user's file\n"
    assert not (run / "kernel.log").is_symlink() and (run / "kernel.log").read_text() == "chatter\n"


def test_a_fifo_in_its_place_does_not_block_the_run(tmp_path):
    """Opening a FIFO for writing waits for a reader: a resumed run hung there for good."""
    fifo = tmp_path / "kernel.log"
    os.mkfifo(fifo)
    code = ("import os, sys; from digitlib.run.native import native_stderr_to\n"
            f"with native_stderr_to({str(fifo)!r}): os.write(2, b'x')\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert fifo.is_file() and fifo.read_text() == "x"


def test_discarded_native_output_goes_nowhere_and_leaves_the_null_device_as_it_was(capfd):
    """`digitlib predict` discards TensorFlow's chatter: the null device is the system's, never removed or replaced
    (as root, treating it as a run's own file replaced it with a regular file, and apt failed on the machine after)."""
    before = os.stat(os.devnull)
    with native_stderr_discarded():
        _write_native("oneDNN chatter\n")
    _write_native("after\n")
    after = os.stat(os.devnull)
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)
    assert capfd.readouterr().err == "after\n"
