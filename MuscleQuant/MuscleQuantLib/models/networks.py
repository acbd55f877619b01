"""Build a card's network without trusting the card: the name must be in the engine's one allowlist
(``MuscleQuantLib.networks.NETWORKS``; no imports by name, no eval), and every argument must be a JSON
value for a keyword the constructor really has, so a bad card fails here with the field named.

Checking a card needs only the constructors' keyword names, kept in :data:`SIGNATURES` (a test compares
them with the live constructors), so reading a model card imports neither torch nor MONAI (MONAI's package
import alone took 3–4 s of every cold command); the classes are imported only to build a network.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import InputError

if TYPE_CHECKING:
    import torch

# Constructor parameters that take Python objects rather than data; a card may not set them.
FORBIDDEN_ARGS = frozenset({"self", "norm_layer"})
_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


class Signature(NamedTuple):
    """An allowlisted constructor's keywords: those without a default, those with one, and the default
    number of output channels (None when the card must give it)."""

    required: tuple[str, ...]
    optional: tuple[str, ...]
    out_channels_default: int | None


# The keyword names of every allowlisted network (``constructor_parameters`` of the live classes, MONAI 1.6);
# Testing/test_speed_startup.py fails when a constructor changes so that this table no longer matches.
SIGNATURES: dict[str, Signature] = {
    "BasicUNet": Signature((), ("spatial_dims", "in_channels", "out_channels", "features", "act", "norm", "bias",
                                "dropout", "upsample"), 2),
    "UNet": Signature(("spatial_dims", "in_channels", "out_channels", "channels", "strides"),
                      ("kernel_size", "up_kernel_size", "num_res_units", "act", "norm", "dropout", "bias",
                       "adn_ordering"), None),
    "DynUNet": Signature(("spatial_dims", "in_channels", "out_channels", "kernel_size", "strides",
                          "upsample_kernel_size"),
                         ("filters", "dropout", "norm_name", "act_name", "deep_supervision", "deep_supr_num",
                          "res_block", "trans_bias"), None),
    "UNETR": Signature(("in_channels", "out_channels", "img_size"),
                       ("feature_size", "hidden_size", "mlp_dim", "num_heads", "proj_type", "norm_name", "conv_block",
                        "res_block", "dropout_rate", "spatial_dims", "qkv_bias", "save_attn"), None),
    "DeepDropoutUNet": Signature((), ("spatial_dims", "in_channels", "out_channels", "features", "act", "norm", "bias",
                                      "upsample", "deep_dropout"), 1),
    "SliceUNet": Signature((), ("spatial_dims", "in_channels", "out_channels", "features", "act", "norm", "context"), 2),
}


def __getattr__(name: str) -> Any:
    if name == "NETWORKS":  # the live allowlist, imported on first use (torch + MONAI)
        from ..networks import NETWORKS

        return NETWORKS
    raise AttributeError(name)


def signature_of(name: Any, source: str | Path | None = None) -> Signature:
    """The allowlisted network's keywords; any other name is refused, never looked up."""
    signature = SIGNATURES.get(name) if isinstance(name, str) else None
    if signature is None:
        raise InputError(f"unknown network {name!r}; allowed: {', '.join(SIGNATURES)}", path=source,
                         field="network.name")
    return signature


def network_factory(name: Any, source: str | Path | None = None) -> Any:
    """The allowlisted constructor for ``name``; anything else is refused, never looked up."""
    signature_of(name, source)
    from ..networks import NETWORKS

    return NETWORKS[name]


def constructor_parameters(factory: Any) -> dict[str, inspect.Parameter]:
    """Named parameters of ``factory``, following ``**kwargs`` up the class hierarchy (a subclass that
    adds one option and passes the rest to MONAI still has its parent's arguments checked)."""
    found: dict[str, inspect.Parameter] = {}
    classes = factory.__mro__ if inspect.isclass(factory) else ()
    for cls in classes or (factory,):
        init = cls.__init__ if inspect.isclass(cls) else cls
        if init is object.__init__:
            break
        params = inspect.signature(init).parameters
        for param in params.values():
            if param.kind in _NAMED and param.name != "self":
                found.setdefault(param.name, param)
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            break
    return found


def live_signature(factory: Any) -> Signature:
    """:class:`Signature` of a live constructor (what :data:`SIGNATURES` must equal)."""
    params = constructor_parameters(factory)
    empty = inspect.Parameter.empty
    default = params["out_channels"].default if "out_channels" in params else empty
    return Signature(tuple(k for k, p in params.items() if p.default is empty),
                     tuple(k for k, p in params.items() if p.default is not empty),
                     None if default is empty else default)


def _as_constructor_value(value: Any, field: str) -> Any:
    """JSON lists become tuples: MONAI reads ('name', {options}) pairs and shape sequences as tuples."""
    if isinstance(value, list):
        return tuple(_as_constructor_value(v, field) for v in value)
    if isinstance(value, dict):
        return {k: _as_constructor_value(v, field) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise InputError(f"unsupported value type {type(value).__name__}", field=field)


def check_network_args(name: str, args: dict[str, Any], spatial_dims: int, source: str | Path | None = None
                       ) -> dict[str, Any]:
    """Constructor keyword arguments for ``name``, after checking every key against its signature."""
    signature = signature_of(name, source)
    params = (*signature.required, *signature.optional)
    for key in args:
        if key in FORBIDDEN_ARGS or key not in params:
            raise InputError(f"{name} has no argument {key!r} a card may set", path=source,
                             field=f"network.args.{key}")
    missing = [p for p in signature.required if p not in args and p != "spatial_dims"]
    if missing:
        raise InputError(f"{name} needs {', '.join(missing)}", path=source, field="network.args")
    kwargs = {k: _as_constructor_value(v, f"network.args.{k}") for k, v in args.items()}
    if "spatial_dims" in params:
        if kwargs.setdefault("spatial_dims", spatial_dims) != spatial_dims:
            raise InputError(f"{kwargs['spatial_dims']} differs from the card's spatial_dims {spatial_dims}",
                             path=source, field="network.args.spatial_dims")
    elif spatial_dims != 3:
        raise InputError(f"{name} is 3D only", path=source, field="spatial_dims")
    return kwargs


def build_network(name: str, args: dict[str, Any], spatial_dims: int, source: str | Path | None = None
                  ) -> torch.nn.Module:
    """A freshly initialised network as the card describes it (weights are loaded separately)."""
    factory = network_factory(name, source)
    kwargs = check_network_args(name, args, spatial_dims, source)
    try:
        return factory(**kwargs)
    except (TypeError, ValueError, AssertionError, RuntimeError, KeyError, IndexError) as exc:
        raise InputError(f"cannot build {name}: {' '.join(str(exc).split())}", path=source,
                         field="network.args") from exc


def output_channels(name: str, args: dict[str, Any]) -> int | None:
    """Output channels the card's network produces: its ``out_channels`` or the constructor default."""
    value = args.get("out_channels")
    if value is None:
        value = signature_of(name).out_channels_default
    return value if isinstance(value, int) and not isinstance(value, bool) else None
