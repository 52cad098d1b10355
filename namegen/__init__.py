"""namegen: learn to generate names (and other short strings) character by character.

    import namegen
    namegen.available()                      # ['counts', 'linear', ...]
    m = namegen.create("linear").fit(train_names, val_names)
    m.sample(10, seed=7)
    m.save("runs/x"); namegen.load("runs/x")

The torch side is imported on first use, so that `namegen.runtime` (numpy + onnxruntime)
works in apps that embed an export without torch.
"""

from importlib import import_module

__version__ = "0.1.0"

from .errors import NamegenError, NamegenWarning  # noqa: E402

_LAZY = {
    "NameModel": "namegen.model", "Score": "namegen.model", "TrainConfig": "namegen.train",
    "available": "namegen.registry", "create": "namegen.registry", "register": "namegen.registry",
    "load_plugins_dir": "namegen.registry", "load": "namegen.checkpoint",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'namegen' has no attribute {name!r}")


__all__ = ["NamegenError", "NamegenWarning", "__version__", *_LAZY]
