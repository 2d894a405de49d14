"""MVDream's multi-view UNet (``MultiViewUNetModel``), with attention through torch SDPA.

Same module tree, parameter names, config keys and forward contract as ``unet/mv_unet.py`` of
``ashawkey/mvdream-sd2.1-diffusers`` (the LDM ``openaimodel.UNetModel`` layout: ``time_embed``,
``camera_embed``, ``input_blocks``, ``middle_block``, ``output_blocks``, ``out``), so the checkpoint's
``unet/diffusion_pytorch_model.safetensors`` loads with ``MultiViewUNetModel.from_pretrained(root,
subfolder="unet")``. xformers is not needed: attention uses ``F.scaled_dot_product_attention``.

Multi-view consistency: in every transformer block the self-attention runs over the tokens of all
``num_frames`` views of a sample at once (``(b f) l c -> b (f l) c``); the camera (flattened 4x4 c2w,
``camera_dim`` 16) goes through ``camera_embed`` (Linear, SiLU, Linear) and is added to the time
embedding. ImageDream's image-prompt branch (``ip_dim > 0``) is not implemented.

Shapes: ``x [B*F, C, h, w]``, ``timesteps [B*F]``, ``context [B*F, L, context_dim]``,
``camera [B*F, camera_dim]``, ``num_frames = F``.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config

__all__ = ["MultiViewUNetModel", "timestep_embedding"]


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: int = 10000) -> torch.Tensor:
    """LDM sinusoidal embedding ``[N, dim]``: ``cat(cos(t * f), sin(t * f))``, ``f = max_period^(-i/half)``."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=timesteps.device) / half)
    args = timesteps[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, 1)) if dim % 2 else emb


class GroupNorm32(nn.GroupNorm):
    """GroupNorm computed in float32 (LDM ``normalization``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float()).type(x.dtype)


class ResBlock(nn.Module):
    """LDM residual block: ``in_layers`` (norm, SiLU, conv), ``emb_layers`` (SiLU, Linear),
    ``out_layers`` (norm, SiLU, dropout, conv), ``skip_connection`` (identity or 1x1 conv)."""

    def __init__(self, channels: int, emb_channels: int, dropout: float, out_channels: int | None = None,
                 use_scale_shift_norm: bool = False, groups: int = 32):
        super().__init__()
        out_channels = out_channels or channels
        self.use_scale_shift_norm = use_scale_shift_norm
        self.in_layers = nn.Sequential(GroupNorm32(groups, channels), nn.SiLU(),
                                       nn.Conv2d(channels, out_channels, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, 2 * out_channels if use_scale_shift_norm
                                                             else out_channels))
        self.out_layers = nn.Sequential(GroupNorm32(groups, out_channels), nn.SiLU(), nn.Dropout(p=dropout),
                                        nn.Conv2d(out_channels, out_channels, 3, padding=1))
        self.skip_connection = nn.Identity() if out_channels == channels else nn.Conv2d(channels, out_channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.in_layers(x)
        emb_out = self.emb_layers(emb).type(h.dtype)[..., None, None]
        if self.use_scale_shift_norm:
            norm, rest = self.out_layers[0], self.out_layers[1:]
            scale, shift = emb_out.chunk(2, dim=1)
            h = rest(norm(h) * (1 + scale) + shift)
        else:
            h = self.out_layers(h + emb_out)
        return self.skip_connection(x) + h


class Downsample(nn.Module):
    def __init__(self, channels: int, out_channels: int | None = None):
        super().__init__()
        self.op = nn.Conv2d(channels, out_channels or channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, channels: int, out_channels: int | None = None):
        super().__init__()
        self.conv = nn.Conv2d(channels, out_channels or channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class CrossAttention(nn.Module):
    """Multi-head attention (``to_q``, ``to_k``, ``to_v`` without bias, ``to_out.0``) through SDPA."""

    def __init__(self, query_dim: int, context_dim: int | None, heads: int, dim_head: int, dropout: float = 0.0):
        super().__init__()
        inner = heads * dim_head
        context_dim = context_dim or query_dim
        self.heads, self.dim_head = heads, dim_head
        self.to_q = nn.Linear(query_dim, inner, bias=False)
        self.to_k = nn.Linear(context_dim, inner, bias=False)
        self.to_v = nn.Linear(context_dim, inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, query_dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        context = x if context is None else context
        B = x.shape[0]
        q, k, v = (t.reshape(B, -1, self.heads, self.dim_head).transpose(1, 2)
                   for t in (self.to_q(x), self.to_k(context), self.to_v(context)))
        out = F.scaled_dot_product_attention(q, k, v)
        return self.to_out(out.transpose(1, 2).reshape(B, -1, self.heads * self.dim_head))


class GEGLU(nn.Module):
    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, gate = self.proj(x).chunk(2, dim=-1)
        return x * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int = 4, dropout: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(GEGLU(dim, dim * mult), nn.Dropout(dropout), nn.Linear(dim * mult, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class BasicTransformerBlock3D(nn.Module):
    """Self-attention across all views of a sample, then per-view cross-attention and feed-forward."""

    def __init__(self, dim: int, n_heads: int, d_head: int, context_dim: int, dropout: float = 0.0):
        super().__init__()
        self.attn1 = CrossAttention(dim, None, n_heads, d_head, dropout)
        self.ff = FeedForward(dim, dropout=dropout)
        self.attn2 = CrossAttention(dim, context_dim, n_heads, d_head, dropout)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None, num_frames: int = 1) -> torch.Tensor:
        bf, L, C = x.shape
        x = x.reshape(bf // num_frames, num_frames * L, C)          # (b f) l c -> b (f l) c
        x = self.attn1(self.norm1(x)) + x
        x = x.reshape(bf, L, C)                                     # b (f l) c -> (b f) l c
        x = self.attn2(self.norm2(x), context) + x
        return self.ff(self.norm3(x)) + x


class SpatialTransformer3D(nn.Module):
    def __init__(self, in_channels: int, n_heads: int, d_head: int, context_dim: int, depth: int = 1,
                 dropout: float = 0.0, groups: int = 32):
        super().__init__()
        inner = n_heads * d_head
        self.norm = nn.GroupNorm(groups, in_channels, eps=1e-6, affine=True)
        self.proj_in = nn.Linear(in_channels, inner)
        self.transformer_blocks = nn.ModuleList(
            [BasicTransformerBlock3D(inner, n_heads, d_head, context_dim, dropout) for _ in range(depth)])
        self.proj_out = nn.Linear(inner, in_channels)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None, num_frames: int = 1) -> torch.Tensor:
        b, c, h, w = x.shape
        y = self.proj_in(self.norm(x).flatten(2).transpose(1, 2))
        for block in self.transformer_blocks:
            y = block(y, context, num_frames)
        return self.proj_out(y).transpose(1, 2).reshape(b, c, h, w) + x


class CondSequential(nn.Sequential):
    """``nn.Sequential`` that routes the time embedding to ResBlocks and context/views to transformers."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor, context: torch.Tensor | None = None,
                num_frames: int = 1) -> torch.Tensor:
        for layer in self:
            if isinstance(layer, ResBlock):
                x = layer(x, emb)
            elif isinstance(layer, SpatialTransformer3D):
                x = layer(x, context, num_frames)
            else:
                x = layer(x)
        return x


class MultiViewUNetModel(ModelMixin, ConfigMixin):
    """MVDream multi-view UNet (config keys as in the checkpoint's ``unet/config.json``).

    ``norm_num_groups`` (default 32, the checkpoint's value) is our addition so tests can build tiny
    models. See the module docstring for shapes.
    """

    _supports_gradient_checkpointing = False

    @register_to_config
    def __init__(self, image_size: int = 32, in_channels: int = 4, model_channels: int = 320, out_channels: int = 4,
                 num_res_blocks: int | Sequence[int] = 2, attention_resolutions: Sequence[int] = (4, 2, 1),
                 dropout: float = 0.0, channel_mult: Sequence[int] = (1, 2, 4, 4), conv_resample: bool = True,
                 dims: int = 2, num_classes: Any = None, use_checkpoint: bool = False, num_heads: int = -1,
                 num_head_channels: int = 64, num_heads_upsample: int = -1, use_scale_shift_norm: bool = False,
                 resblock_updown: bool = False, transformer_depth: int = 1, context_dim: int | None = 1024,
                 n_embed: Any = None, num_attention_blocks: Sequence[int] | None = None, adm_in_channels: Any = None,
                 camera_dim: int | None = 16, ip_dim: int = 0, ip_weight: float = 1.0, norm_num_groups: int = 32,
                 **kwargs: Any):
        super().__init__()
        unsupported = dims != 2 or num_classes is not None or n_embed is not None or ip_dim
        if unsupported or resblock_updown or not conv_resample:
            raise ValueError("MultiViewUNetModel supports the MVDream text-to-multi-view configuration only "
                             "(dims=2, no class labels, ip_dim=0 (no ImageDream), resblock_updown=False)")
        if context_dim is None:
            raise ValueError("MultiViewUNetModel needs context_dim (text embedding width)")
        if num_heads == -1 and num_head_channels == -1:
            raise ValueError("set num_heads or num_head_channels")
        groups = norm_num_groups
        n_res = [num_res_blocks] * len(channel_mult) if isinstance(num_res_blocks, int) else list(num_res_blocks)
        self.model_channels = model_channels
        emb_dim = model_channels * 4
        self.time_embed = nn.Sequential(nn.Linear(model_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        if camera_dim is not None:
            self.camera_embed = nn.Sequential(nn.Linear(camera_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        else:
            self.camera_embed = None

        def heads_for(ch: int) -> tuple[int, int]:
            if num_head_channels == -1:
                return num_heads, ch // num_heads
            return ch // num_head_channels, num_head_channels

        def transformer(ch: int) -> SpatialTransformer3D:
            h, d = heads_for(ch)
            return SpatialTransformer3D(ch, h, d, context_dim, transformer_depth, dropout, groups)

        self.input_blocks = nn.ModuleList([CondSequential(nn.Conv2d(in_channels, model_channels, 3, padding=1))])
        chans, ch, ds = [model_channels], model_channels, 1
        for level, mult in enumerate(channel_mult):
            for nr in range(n_res[level]):
                layers: list[nn.Module] = [ResBlock(ch, emb_dim, dropout, mult * model_channels, use_scale_shift_norm,
                                                    groups)]
                ch = mult * model_channels
                if ds in attention_resolutions and (num_attention_blocks is None or nr < num_attention_blocks[level]):
                    layers.append(transformer(ch))
                self.input_blocks.append(CondSequential(*layers))
                chans.append(ch)
            if level != len(channel_mult) - 1:
                self.input_blocks.append(CondSequential(Downsample(ch)))
                chans.append(ch)
                ds *= 2
        self.middle_block = CondSequential(ResBlock(ch, emb_dim, dropout, None, use_scale_shift_norm, groups),
                                           transformer(ch),
                                           ResBlock(ch, emb_dim, dropout, None, use_scale_shift_norm, groups))
        self.output_blocks = nn.ModuleList([])
        for level, mult in list(enumerate(channel_mult))[::-1]:
            for i in range(n_res[level] + 1):
                ich = chans.pop()
                layers = [ResBlock(ch + ich, emb_dim, dropout, model_channels * mult, use_scale_shift_norm, groups)]
                ch = model_channels * mult
                if ds in attention_resolutions and (num_attention_blocks is None or i < num_attention_blocks[level]):
                    layers.append(transformer(ch))
                if level and i == n_res[level]:
                    layers.append(Upsample(ch))
                    ds //= 2
                self.output_blocks.append(CondSequential(*layers))
        self.out = nn.Sequential(GroupNorm32(groups, ch), nn.SiLU(),
                                 nn.Conv2d(model_channels, out_channels, 3, padding=1))

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor | None = None,
                camera: torch.Tensor | None = None, num_frames: int = 1, **kwargs: Any) -> torch.Tensor:
        """Noise prediction ``[B*F, out_channels, h, w]`` (see the module docstring for shapes)."""
        if x.shape[0] % num_frames:
            raise ValueError(f"batch {x.shape[0]} is not a multiple of num_frames={num_frames}")
        timesteps = torch.as_tensor(timesteps, device=x.device).reshape(-1).expand(x.shape[0])
        emb = self.time_embed(timestep_embedding(timesteps, self.model_channels).to(x.dtype))
        if camera is not None:
            if self.camera_embed is None:
                raise ValueError("this MultiViewUNetModel has no camera_embed (camera_dim=None)")
            emb = emb + self.camera_embed(camera.to(x.dtype))
        hs, h = [], x
        for module in self.input_blocks:
            h = module(h, emb, context, num_frames)
            hs.append(h)
        h = self.middle_block(h, emb, context, num_frames)
        for module in self.output_blocks:
            h = module(torch.cat([h, hs.pop()], dim=1), emb, context, num_frames)
        return self.out(h.type(x.dtype))
