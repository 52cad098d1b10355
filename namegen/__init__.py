"""namegen: learn to generate names (and other short strings) character by character.

    import namegen
    namegen.available()                      # ['counts', 'linear', ...]
    m = namegen.create("linear").fit(train_names, val_names)
    m.sample(10, seed=7)
    m.save("runs/x"); namegen.load("runs/x")
"""

__version__ = "0.1.0"

from .errors import NamegenError  # noqa: E402
from .model import NameModel, Score  # noqa: E402
from .registry import available, create, load_plugins_dir, register  # noqa: E402
from .train import TrainConfig  # noqa: E402


def load(path):
    """The model saved in the run folder `path` (see namegen.checkpoint)."""
    from .checkpoint import load as load_checkpoint

    return load_checkpoint(path)


__all__ = ["NameModel", "NamegenError", "Score", "TrainConfig", "available", "create", "load", "load_plugins_dir", "register", "__version__"]
