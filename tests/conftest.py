import os

import pytest

# Tests run at the smallest scale whatever the caller's environment says.
os.environ["CLKIT_SCALE"] = "ci"


@pytest.fixture(scope="session")
def small_shapes():
    """320 ``shapes`` images (seed 0), rendered once per session and shared.

    ``small_shapes`` and ``small_shapes_test`` exist so that tests needing a few hundred
    images need not render the full 10,000-image train split (or the 2,000-image test
    split). Use them read-only: every test sees the same objects.
    """
    from clkit import data

    return data.make_shapes(320, seed=0)


@pytest.fixture(scope="session")
def small_shapes_test():
    """160 ``shapes`` images from another seed (1): a held-out set to go with ``small_shapes``."""
    from clkit import data

    return data.make_shapes(160, seed=1)
