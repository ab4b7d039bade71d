"""Observation encoders shared by every learner, and their SB3 features-extractor wrappers.

The same :class:`GridEncoder` / :class:`EntityEncoder` classes sit inside
:class:`cgfsim.agents.networks.CgfPolicy` (as ``policy.encoder``) and inside
SB3 policies (as ``features_extractor.encoder``), so exporting a trained SB3
model is a plain ``load_state_dict`` and both give the same features.

SB3's NatureCNN needs images of at least 36x36 and may transpose uint8 grids;
our grids are float32 (C, H, W) between 8x8 and 48x48, so we bring our own CNN
and build the SB3 policy with ``normalize_images=False``.
"""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import Tensor, nn

#: Side length of the adaptive pooling grid: 4x4 keeps coarse positions on any map size.
POOL = 4


class GridEncoder(nn.Module):
    """Small CNN for (C, H, W) grids of any size >= 1x1.

    3x3 convolutions with padding keep the map's cell resolution in the first
    layer (one cell can decide a fight); the second is strided to halve the
    cost on 48x48 maps; adaptive average pooling to 4x4 makes the parameter
    count independent of map size.
    """

    def __init__(
        self, in_channels: int, features_dim: int = 128, channels: Sequence[int] = (32, 64)
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        prev = in_channels
        for i, ch in enumerate(channels):
            layers += [nn.Conv2d(prev, ch, 3, stride=1 if i == 0 else 2, padding=1), nn.ReLU()]
            prev = ch
        layers += [nn.AdaptiveAvgPool2d(POOL), nn.Flatten()]
        self.cnn = nn.Sequential(*layers)
        self.linear = nn.Sequential(nn.Linear(prev * POOL * POOL, features_dim), nn.ReLU())
        self.features_dim = features_dim

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(self.cnn(x))


class EntityEncoder(nn.Module):
    """Self-attention over unit rows (N, F); column 0 flags valid rows.

    Invalid rows (empty slots, unseen enemies) are masked from attention and
    from the mean pool. A world with no valid row at all (e.g. the terminal
    observation after annihilation) attends over every row instead, which
    avoids NaNs from an all-masked softmax; its pooled mean is then zero.
    """

    def __init__(
        self,
        n_features: int,
        features_dim: int = 128,
        embed_dim: int = 64,
        heads: int = 4,
        layers: int = 1,
    ) -> None:
        super().__init__()
        self.embed = nn.Linear(n_features, embed_dim)
        layer = nn.TransformerEncoderLayer(
            embed_dim,
            heads,
            dim_feedforward=2 * embed_dim,
            dropout=0.0,
            batch_first=True,
        )
        # Nested tensors (the eval fast path) would make train and eval mode differ.
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.linear = nn.Sequential(nn.Linear(embed_dim, features_dim), nn.ReLU())
        self.features_dim = features_dim

    def forward(self, x: Tensor) -> Tensor:
        valid = x[..., 0] > 0.5  # (B, N)
        any_valid = valid.any(dim=1, keepdim=True)
        pad = ~valid & any_valid  # all-invalid worlds: mask nothing
        h = self.transformer(self.embed(x), src_key_padding_mask=pad)
        w = valid.to(h.dtype).unsqueeze(-1)
        pooled = (h * w).sum(dim=1) / w.sum(dim=1).clamp(min=1.0)
        return self.linear(pooled)


class GridExtractor(BaseFeaturesExtractor):
    """SB3 features extractor around :class:`GridEncoder` (use ``normalize_images=False``)."""

    def __init__(
        self,
        observation_space: gym.spaces.Box,
        features_dim: int = 128,
        channels: Sequence[int] = (32, 64),
    ) -> None:
        super().__init__(observation_space, features_dim)
        self.encoder = GridEncoder(int(observation_space.shape[0]), features_dim, tuple(channels))

    def forward(self, observations: Tensor) -> Tensor:
        return self.encoder(observations)


class EntityExtractor(BaseFeaturesExtractor):
    """SB3 features extractor around :class:`EntityEncoder`."""

    def __init__(
        self,
        observation_space: gym.spaces.Box,
        features_dim: int = 128,
        embed_dim: int = 64,
        heads: int = 4,
        layers: int = 1,
    ) -> None:
        super().__init__(observation_space, features_dim)
        self.encoder = EntityEncoder(
            int(observation_space.shape[-1]), features_dim, embed_dim, heads, layers
        )

    def forward(self, observations: Tensor) -> Tensor:
        return self.encoder(observations)


def n_params(module: nn.Module) -> int:
    """Number of trainable scalars, for reports and GA genome sizes."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


__all__ = ["EntityEncoder", "EntityExtractor", "GridEncoder", "GridExtractor", "n_params"]
