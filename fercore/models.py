"""The model store: trained networks kept after a chapter's run, and used on new faces.

Each deep chapter keeps one file per method and seed::

    results/<profile>/models/<chapter>/<method>-seed<k>.pt

holding only tensors, numbers and strings (so ``torch.load(path, weights_only=True)`` reads it):
the network's class (a name in ``fercore.nets``) and constructor arguments, its ``state_dict``,
the class names its outputs stand for, and the fingerprint of the run that trained it. Saving::

    from fercore.models import save_model, params_fingerprint
    save_model(net, "dlp_dbm", "dlp", seed, params_fingerprint(params), "results/smoke")

and using::

    net, info = load_model("dlp_dbm/dlp", "results/smoke")          # newest seed-0 file
    probabilities = predict_proba(net, aligned_faces)                  # (n, classes)
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
from pathlib import Path

import numpy as np
import torch
from torch import nn

import fercore
from fercore.labels import BASIC7
from fercore.results import write_atomic

FORMAT = 1
MODELS_DIR = "models"
PROFILE_DIR_ENV = "FERCORE_PROFILE_DIR"
"""Set by ``fercore run`` for a chapter's kernel: the ``results/<profile>`` folder models are kept in."""
_NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")


def model_path(profile_dir, chapter: str, method: str, seed: int) -> Path:
    """``<profile_dir>/models/<chapter>/<method>-seed<seed>.pt``."""
    for what, value in (("chapter", chapter), ("method", method)):
        if not _NAME.match(str(value)):
            raise ValueError(f"{what} {value!r} must be a plain name (letters, digits, _ . + -)")
    return Path(profile_dir) / MODELS_DIR / chapter / f"{method}-seed{int(seed)}.pt"


def keep_spec(chapter: str, method: str, seed: int, **save_kwargs) -> dict | None:
    """The ``keep`` argument of :class:`fercore.train.Trainer` that keeps a chapter's trained net
    as ``<chapter>/<method>-seed<seed>`` inside ``fercore run``; ``None`` elsewhere (a notebook
    opened by hand keeps nothing, as it records nothing). ``save_kwargs``: ``class_names``,
    ``config`` of :func:`save_model`."""
    folder = os.environ.get(PROFILE_DIR_ENV)
    if not folder:
        return None
    return {"chapter": chapter, "method": method, "seed": int(seed), "profile_dir": folder, **save_kwargs}


def keep_trained(net: nn.Module, chapter: str, method: str, seed: int, fingerprint, **kwargs) -> Path | None:
    """:func:`save_model` into the running profile's store inside ``fercore run`` (see
    :func:`keep_spec`); nothing elsewhere. ``kwargs``: ``class_names``, ``config``."""
    spec = keep_spec(chapter, method, seed)
    return None if spec is None else save_model(net, fingerprint=fingerprint, **spec, **kwargs)


def params_fingerprint(params: dict) -> str:
    """A short hash of a run's resolved parameters and the library version (16 hex digits)."""
    text = json.dumps({"params": params, "fercore": fercore.__version__}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def constructor_arguments(net: nn.Module) -> dict:
    """The arguments that rebuild ``net``: each parameter of its class's ``__init__`` read back
    from the attribute of the same name (an ``nn.Dropout`` attribute gives its rate)."""
    out = {}
    for name, param in inspect.signature(type(net).__init__).parameters.items():
        if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        value = getattr(net, name, inspect.Parameter.empty)
        if isinstance(value, nn.Dropout):
            value = value.p
        if value is inspect.Parameter.empty:
            if param.default is inspect.Parameter.empty:
                raise ValueError(f"{type(net).__name__}: cannot read constructor argument {name!r} back "
                                 "from the network; pass config= to save_model")
            continue
        if not isinstance(value, (bool, int, float, str, tuple, list)):
            raise ValueError(f"{type(net).__name__}.{name} = {value!r} is not a plain value; pass config=")
        out[name] = list(value) if isinstance(value, tuple) else value
    return out


def save_model(net: nn.Module, chapter: str, method: str, seed: int, fingerprint, profile_dir,
               *, class_names=BASIC7, config: dict | None = None) -> Path:
    """Write ``net`` to :func:`model_path` atomically and return the path.

    ``fingerprint`` identifies the run: a string (:func:`params_fingerprint`) or a dict of strings
    and numbers (:meth:`fercore.train.Trainer.fingerprint`).
    ``config``: constructor arguments of ``net``'s class (default: :func:`constructor_arguments`);
    ``class_names``: what the outputs stand for, in order.
    """
    import fercore.nets

    architecture = type(net).__name__
    if getattr(fercore.nets, architecture, None) is not type(net):
        raise ValueError(f"{architecture} is not a network of fercore.nets; the store rebuilds nets by name")
    outputs = getattr(net, "num_classes", None)
    if outputs is not None and int(outputs) != len(class_names):
        raise ValueError(f"{chapter}/{method}: the net has {outputs} outputs but {len(class_names)} class names "
                         f"were given ({list(class_names)})")
    config = constructor_arguments(net) if config is None else dict(config)
    payload = {
        "format": FORMAT,
        "chapter": chapter,
        "method": method,
        "seed": int(seed),
        "fingerprint": dict(fingerprint) if isinstance(fingerprint, dict) else str(fingerprint),
        "fercore_version": fercore.__version__,
        "architecture": architecture,
        "config": config,
        "class_names": list(class_names),
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
    }
    path = model_path(profile_dir, chapter, method, seed)
    write_atomic(path, lambda tmp: torch.save(payload, tmp))
    return path


def find_model(spec: str, profile_dir) -> Path:
    """The file of ``spec`` = ``CHAPTER/METHOD`` (seed 0, else the lowest seed) or
    ``CHAPTER/METHOD-seedK`` under ``profile_dir``; a path to a ``.pt`` file is taken as is."""
    if spec.endswith(".pt"):
        if not Path(spec).is_file():
            raise FileNotFoundError(f"{spec}: model file not found")
        return Path(spec)
    chapter, _, method = spec.partition("/")
    if not chapter or not method:
        raise ValueError(f"model {spec!r} must be CHAPTER/METHOD (e.g. dlp_dbm/dlp) or a .pt file")
    folder = Path(profile_dir) / MODELS_DIR / chapter
    if re.search(r"-seed\d+$", method):
        candidates = [folder / f"{method}.pt"]
    else:
        candidates = sorted(folder.glob(f"{method}-seed*.pt"),
                            key=lambda p: int(p.stem.rpartition("-seed")[2]))
    candidates = [p for p in candidates if p.is_file()]
    if not candidates:
        kept = sorted(f"{p.parent.name}/{p.stem}" for p in (Path(profile_dir) / MODELS_DIR).glob("*/*.pt"))
        raise FileNotFoundError(f"{folder}: no saved model {method!r}; kept models: {kept or 'none'} "
                                "(run the chapter first)")
    return candidates[0]


def load_model(spec, profile_dir=".", device="cpu"):
    """Rebuild a saved network (eval mode on ``device``) and return ``(net, info)``; ``info``
    holds everything in the file but the weights. ``spec`` as in :func:`find_model`."""
    import fercore.nets

    path = find_model(str(spec), profile_dir)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling errors come in many types
        raise ValueError(f"{path}: not a saved fercore model ({type(e).__name__}: {e})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not a saved fercore model (format {FORMAT})")
    cls = getattr(fercore.nets, payload["architecture"], None)
    if cls is None:
        raise ValueError(f"{path}: unknown architecture {payload['architecture']!r}")
    net = cls(**payload["config"])
    net.load_state_dict(payload["state_dict"])
    info = {k: v for k, v in payload.items() if k != "state_dict"}
    info["path"] = str(path)
    return net.eval().to(device), info


@torch.no_grad()
def predict_proba(net: nn.Module, faces, batch_size: int = 256) -> np.ndarray:
    """Class probabilities (n, classes) of uint8 aligned faces (n, 100, 100), scored as the
    chapters test: the faces resized for the net's input, the centre crop, a softmax."""
    from fercore.inputs import center_crops, crop_source

    faces = np.asarray(faces)
    device = next(net.parameters()).device
    net.eval()
    out = []
    for start in range(0, len(faces), batch_size):
        x = crop_source(faces[start:start + batch_size], net.input_size)
        out.append(torch.softmax(net(center_crops(x.to(device), net.input_size)).float(), 1).cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, net.num_classes), np.float32)
