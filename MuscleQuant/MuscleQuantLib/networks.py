"""The networks a preset or model card may name: an allowlist of MONAI classes (no arbitrary class
names, no eval), plus the one paper network MONAI lacks as a single class."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from monai.networks.nets import UNETR, BasicUNet, DynUNet, UNet
from monai.networks.nets.basic_unet import Down


class DeepDropoutUNet(BasicUNet):
    """Mi et al. 2022's 2D U-Net: MONAI's BasicUNet (two conv–BN–ReLU per block, 4 down/up-samplings)
    with dropout only in the two deepest encoder blocks, as in the classic U-Net the paper used."""

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 1,
        out_channels: int = 1,
        features: tuple[int, ...] = (64, 128, 256, 512, 1024, 64),
        act: str | tuple = ("LeakyReLU", {"negative_slope": 0.1, "inplace": True}),
        norm: str | tuple = ("instance", {"affine": True}),
        bias: bool = True,
        upsample: str = "deconv",
        deep_dropout: float = 0.5,
    ):
        super().__init__(spatial_dims=spatial_dims, in_channels=in_channels, out_channels=out_channels,
                         features=features, act=act, norm=norm, bias=bias, dropout=0.0, upsample=upsample)
        self.down_3 = Down(spatial_dims, features[2], features[3], act, norm, bias, deep_dropout)
        self.down_4 = Down(spatial_dims, features[3], features[4], act, norm, bias, deep_dropout)


NETWORKS: dict[str, Callable[..., torch.nn.Module]] = {
    "BasicUNet": BasicUNet,
    "UNet": UNet,
    "DynUNet": DynUNet,
    "UNETR": UNETR,
    "DeepDropoutUNet": DeepDropoutUNet,
}


def build_network(name: str, args: Mapping[str, Any]) -> torch.nn.Module:
    """Instantiate an allowlisted network; lists (from JSON) become tuples where MONAI expects them."""
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; allowed: {', '.join(NETWORKS)}")
    kwargs = {k: _tuples(v) for k, v in args.items()}
    return NETWORKS[name](**kwargs)


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def count_parameters(network: torch.nn.Module) -> int:
    return sum(p.numel() for p in network.parameters() if p.requires_grad)
