import math
import os

import pytest

from conftest import digitlib_in_process
from digitlib.models import MEMBER_MODEL, build_model, ensemble_members, model_names, model_spec
from digitlib.params import ParameterError, validate_parameters
from digitlib.run.resources import available_memory, check_memory, training_memory


def test_the_default_run_fits_easily_in_what_this_host_has_free():
    needs = training_memory(validate_parameters())
    assert 0 < sum(needs.values()) < 2 * 1024 ** 3
    free, physical = available_memory(), os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert sum(needs.values()) < free <= physical  # MemAvailable, read from /proc/meminfo
    check_memory(validate_parameters())  # against available_memory(): no error


def test_activations_grow_with_the_batch_and_data_with_the_limit():
    small = training_memory(validate_parameters(batch_size=10, train_limit=100))
    large = training_memory(validate_parameters(batch_size=1000, train_limit=10000))
    assert large["activations"] == 100 * small["activations"] and large["data"] > small["data"]


def test_a_batch_that_cannot_fit_is_refused_with_the_numbers():
    with pytest.raises(ParameterError, match=r"batch_size 1,000,000 with 60,000 training images needs about "
                                             r"[\d,.]+ GiB \(data .* GiB, activations .* GiB, parameters .* GiB\) "
                                             r"but 1.0 GiB is available; lower batch_size"):
        check_memory(validate_parameters(batch_size=1_000_000), available=1024 ** 3)


def test_the_cli_refuses_it_before_creating_a_run(tmp_path):
    result = digitlib_in_process("report", "-p", "batch_size", "100000000", cwd=tmp_path)
    assert result.returncode == 2 and "is available; lower batch_size" in result.stderr
    assert not (tmp_path / "reports").exists()


def test_a_batch_too_large_to_estimate_is_one_line_not_an_overflow(tmp_path):
    with pytest.raises(ParameterError, match=r"'batch_size'=10+\.\.\.0+ must be at most 1,000,000,000$"):
        validate_parameters(batch_size=10**400)  # its estimate in GiB would overflow a float
    with pytest.raises(ParameterError, match=r"^batch_size 1,000,000,000 with 60,000 training images .* lower "):
        check_memory(validate_parameters(batch_size=1_000_000_000), available=1024 ** 3)
    result = digitlib_in_process("report", "-p", "batch_size", str(10**400), cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr[-2000:]
    assert "must be at most 1,000,000,000" in result.stderr and not (tmp_path / "reports").exists()


@pytest.mark.parametrize("name", model_names())
def test_the_sizes_the_registry_carries_are_the_built_networks(name):
    """The memory estimate reads these numbers instead of building the model: they must be exact."""
    spec, model = model_spec(name), build_model(name)
    if spec.members:  # an ensemble carries one member's sizes, and its members are all alike
        assert model.count_params() == spec.members * spec.parameters
        assert (spec.parameters, spec.activations) == (model_spec(MEMBER_MODEL).parameters,
                                                       model_spec(MEMBER_MODEL).activations)
        model = ensemble_members(model)[0]
    activations = sum(math.prod(layer.output.shape[1:]) for layer in model.layers)
    assert (spec.parameters, spec.activations) == (model.count_params(), activations)
