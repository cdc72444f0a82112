import numpy as np
import pytest
from fixtures import make_dataset


@pytest.fixture(scope="session")
def small() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """make_dataset(n=8, k=5, h=32, w=32, err_frac=0.25, seed=1): the reference's small fixture."""
    return make_dataset(n=8, k=5, h=32, w=32, err_frac=0.25, seed=1)


@pytest.fixture(scope="session")
def medium() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return make_dataset(n=24, k=6, h=64, w=64, err_frac=0.25, seed=7)


@pytest.fixture(scope="session")
def default() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The reference's default fixture: 100 images of 256×256, 10 classes (300 MiB)."""
    return make_dataset()
