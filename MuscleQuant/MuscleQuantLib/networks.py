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


class SliceUNet(torch.nn.Module):
    """A 2.5D U-Net for 3D presets on a CPU budget: MONAI's 2D BasicUNet on every axial slice of a 3D
    patch, with the ``context`` slices above and below as extra input channels (edge slices repeat).

    Input and output are 3D, (B, C, Z, Y, X), so patch training, sliding-window inference and model files
    work unchanged; a 3×3 kernel costs a third of a 3×3×3 one, which buys whole-slice context.
    """

    def __init__(
        self,
        spatial_dims: int = 3,
        in_channels: int = 1,
        out_channels: int = 2,
        features: tuple[int, ...] = (16, 32, 64, 128, 256, 16),
        act: str | tuple = ("LeakyReLU", {"negative_slope": 0.1, "inplace": True}),
        norm: str | tuple = ("instance", {"affine": True}),
        context: int = 1,
    ):
        super().__init__()
        if spatial_dims != 3:
            raise ValueError("SliceUNet takes 3D input (it runs a 2D network slice by slice)")
        self.context = int(context)
        self.unet = BasicUNet(spatial_dims=2, in_channels=in_channels * (2 * self.context + 1),
                              out_channels=out_channels, features=features, act=act, norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.context
        padded = torch.nn.functional.pad(x, (0, 0, 0, 0, k, k), mode="replicate") if k else x
        return self.forward_centre(padded)

    def forward_centre(self, x: torch.Tensor) -> torch.Tensor:
        """Predict only the slices that have their full context inside ``x``: (B, C, Z, Y, X) gives
        (B, classes, Z − 2·context, Y, X). Training on single slices (Z = 2·context + 1) uses this, so no
        compute goes to slices whose neighbours are made up."""
        b, _, z, y, w = x.shape
        k = self.context
        inner = z - 2 * k
        if inner < 1:
            raise ValueError(f"SliceUNet needs at least {2 * k + 1} slices, got {z}")
        stacked = torch.cat([x[:, :, i : i + inner] for i in range(2 * k + 1)], dim=1)  # (B, C·(2k+1), Z', Y, X)
        slices = stacked.permute(0, 2, 1, 3, 4).reshape(b * inner, -1, y, w)
        out = self.unet(slices)
        return out.reshape(b, inner, -1, y, w).permute(0, 2, 1, 3, 4)


NETWORKS: dict[str, Callable[..., torch.nn.Module]] = {
    "BasicUNet": BasicUNet,
    "UNet": UNet,
    "DynUNet": DynUNet,
    "UNETR": UNETR,
    "DeepDropoutUNet": DeepDropoutUNet,
    "SliceUNet": SliceUNet,
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
