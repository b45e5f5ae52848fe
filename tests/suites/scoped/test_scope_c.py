# Fixture suite scoped (see ../README.md): 5 tests sharing one module-scoped setup.
import pytest


@pytest.mark.parametrize("n", range(5))
def test_uses_module_fixture(module_resource, n):
    assert module_resource.startswith("test_scope_c.")
