"""PyTorch definitions of difflab's UNet, DiT and KL autoencoder, for weights exported with
`difflab export --format torch` (safetensors, PyTorch layout: OIHW convolutions, [out, in] linear
weights, GroupNorm weight/bias, NCHW activations).

    from difflab_torch import load_export
    models, config = load_export("run.safetensors")      # {"unet": UNet or "dit": DiT, "vae": KLAutoencoder (latent runs)}
    F = models["net"](x_nchw, c_noise, labels)            # the network behind the denoiser, F(c_in·x, c_noise)

The DiT's state-dict names, shapes and constructor arguments are facebookresearch/DiT's (models.py):
an export of a plain DiT (no bottleneck, label tokens or long skips) loads into that class with
strict=True as well.

The modules mirror src/models/unet.ts, src/models/vae.ts and src/models/layers.ts operation for
operation (TensorFlow-style 'same' padding of the stride-2 convolutions included), so their outputs
equal difflab's on the same weights to float32 round-off; test/interop/torch.test.ts checks that.
"""
import json
import math
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["UNet", "DiT", "KLAutoencoder", "load_export", "read_safetensors", "norm_groups"]


def read_safetensors(path):
    """(tensors, metadata) of a safetensors file, read with NumPy (no `safetensors` package needed)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    dtypes = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "U8": np.uint8}
    out = {}
    for name, h in header.items():
        a, b = h["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=dtypes[h["dtype"]]).reshape(h["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out, meta


def norm_groups(channels, preferred=32):
    g = min(preferred, channels)
    while channels % g:
        g -= 1
    return g


def conv_same(conv, x, stride=1):
    """A k×k convolution with TensorFlow's 'same' padding (asymmetric for stride 2 on even sizes)."""
    k = conv.kernel_size[0]
    if stride == 1:
        return F.conv2d(x, conv.weight, conv.bias, padding=k // 2)
    h, w = x.shape[-2:]
    ph = max((math.ceil(h / stride) - 1) * stride + k - h, 0)
    pw = max((math.ceil(w / stride) - 1) * stride + k - w, 0)
    x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
    return F.conv2d(x, conv.weight, conv.bias, stride=stride)


def timestep_embedding(t, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None, :]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    return F.pad(emb, (0, 1)) if dim % 2 else emb


class ResBlock(nn.Module):
    """GN → SiLU → conv → (+ temb, or scale/shift after the second GN) → GN → SiLU → conv, plus skip."""

    def __init__(self, cin, cout, temb_dim=None, scale_shift=False):
        super().__init__()
        self.cin, self.cout, self.scale_shift = cin, cout, scale_shift
        self.norm1 = nn.GroupNorm(norm_groups(cin), cin, eps=1e-5)
        self.conv1 = nn.Conv2d(cin, cout, 3)
        if temb_dim:
            self.temb = nn.Linear(temb_dim, 2 * cout if scale_shift else cout)
        self.norm2 = nn.GroupNorm(norm_groups(cout), cout, eps=1e-5)
        self.conv2 = nn.Conv2d(cout, cout, 3)
        if cin != cout:
            self.skip = nn.Conv2d(cin, cout, 1)

    def forward(self, x, temb=None):
        h = conv_same(self.conv1, F.silu(self.norm1(x)))
        if temb is not None and self.scale_shift:
            e = self.temb(F.silu(temb))
            scale, shift = e[:, : self.cout, None, None], e[:, self.cout :, None, None]
            h = F.silu(self.norm2(h) * (1 + scale) + shift)
        else:
            if temb is not None:
                h = h + self.temb(F.silu(temb))[:, :, None, None]
            h = F.silu(self.norm2(h))
        h = conv_same(self.conv2, h)
        skip = F.conv2d(x, self.skip.weight, self.skip.bias) if self.cin != self.cout else x
        return skip + h


class Attention(nn.Module):
    """Multi-head self-attention over positions: q, k, v are consecutive blocks of the qkv output."""

    def __init__(self, c, heads=1):
        super().__init__()
        self.c, self.heads = c, heads
        self.norm = nn.GroupNorm(norm_groups(c), c, eps=1e-5)
        self.qkv = nn.Linear(c, 3 * c)
        self.proj = nn.Linear(c, c)

    def forward(self, x):
        n, c, h, w = x.shape
        d = c // self.heads
        flat = self.norm(x).permute(0, 2, 3, 1).reshape(n, h * w, c)
        qkv = self.qkv(flat)
        pick = lambda i: qkv[:, :, i * c : (i + 1) * c].reshape(n, h * w, self.heads, d).transpose(1, 2)
        attn = torch.softmax(pick(0) @ pick(1).transpose(-1, -2) / math.sqrt(d), dim=-1)
        out = (attn @ pick(2)).transpose(1, 2).reshape(n, h * w, c)
        return x + self.proj(out).reshape(n, h, w, c).permute(0, 3, 1, 2)


def upsample2x(x, target):
    up = F.interpolate(x, scale_factor=2, mode="nearest")
    return up[:, :, :target, :target]


def _tree(root, dotted, module):
    """Places `module` at a dotted path of nested ModuleDicts, so state-dict keys equal difflab's names."""
    parts = dotted.split(".")
    node = root
    for p in parts[:-1]:
        if p not in node:
            node[p] = nn.ModuleDict()
        node = node[p]
    node[parts[-1]] = module
    return module


def _levels(size, n):
    sizes = [size]
    for _ in range(1, n):
        sizes.append(math.ceil(sizes[-1] / 2))
    return sizes


class UNet(nn.Module):
    """src/models/unet.ts: forward(x [N, C, H, W], c_noise [N], labels [N] or None) → F, NCHW."""

    def __init__(self, image_size, in_channels, out_channels, channels, channel_mult, num_res_blocks,
                 attention_resolutions=(), heads=1, num_classes=None, scale_shift_norm=False, **_):
        super().__init__()
        ch = channels
        self.ch, self.heads, self.num_classes, self.ss = ch, heads, num_classes, scale_shift_norm
        self.temb_dim = 4 * ch
        self.sizes = _levels(image_size, len(channel_mult))
        # Every parameter lives in `tree` under difflab's own name: tree.state_dict() keys equal the export's.
        self.tree = nn.ModuleDict()
        self.plan = {"down": [], "mid": [], "up": []}
        _tree(self.tree, "temb.0", nn.Linear(ch, self.temb_dim))
        _tree(self.tree, "temb.1", nn.Linear(self.temb_dim, self.temb_dim))
        self.inp = _tree(self.tree, "in", nn.Conv2d(in_channels, ch, 3))
        skips, cur = [ch], ch
        for level, m in enumerate(channel_mult):
            res = self.sizes[level]
            for i in range(num_res_blocks):
                self._add("down", "res", f"down.{level}.res.{i}", ResBlock(cur, ch * m, self.temb_dim, scale_shift_norm))
                cur = ch * m
                if res in attention_resolutions:
                    self._add("down", "attn", f"down.{level}.attn.{i}", Attention(cur, heads))
                skips.append(cur)
            if level < len(channel_mult) - 1:
                self._add("down", "down", f"down.{level}.downsample", nn.Conv2d(cur, cur, 3))
                skips.append(cur)
        self._add("mid", "res", "mid.res.0", ResBlock(cur, cur, self.temb_dim, scale_shift_norm))
        self._add("mid", "attn", "mid.attn", Attention(cur, heads))
        self._add("mid", "res", "mid.res.1", ResBlock(cur, cur, self.temb_dim, scale_shift_norm))
        for level in reversed(range(len(channel_mult))):
            res = self.sizes[level]
            for i in range(num_res_blocks + 1):
                skip = skips.pop()
                self._add("up", "res", f"up.{level}.res.{i}", ResBlock(cur + skip, ch * channel_mult[level], self.temb_dim, scale_shift_norm))
                cur = ch * channel_mult[level]
                if res in attention_resolutions:
                    self._add("up", "attn", f"up.{level}.attn.{i}", Attention(cur, heads))
            if level > 0:
                self._add("up", ("up", self.sizes[level - 1]), f"up.{level}.upsample", nn.Conv2d(cur, cur, 3))
        _tree(self.tree, "out.norm", nn.GroupNorm(norm_groups(cur), cur, eps=1e-5))
        _tree(self.tree, "out.conv", nn.Conv2d(cur, out_channels, 3))
        if num_classes is not None:
            _tree(self.tree, "class.embedding", nn.Embedding(num_classes + 1, self.temb_dim))

    def _add(self, part, kind, name, module):
        self.plan[part].append((kind, name, _tree(self.tree, name, module)))

    def _get(self, dotted):
        node = self.tree
        for p in dotted.split("."):
            node = node[p]
        return node

    def forward(self, x, c_noise, labels=None):
        temb = self._get("temb.1")(F.silu(self._get("temb.0")(timestep_embedding(c_noise, self.ch))))
        if self.num_classes is not None:
            if labels is None:
                labels = torch.full((x.shape[0],), self.num_classes, dtype=torch.long)
            temb = temb + self._get("class.embedding")(labels.long())
        h = conv_same(self.inp, x)
        hs = [h]
        for kind, _, m in self.plan["down"]:
            if kind == "res":
                h = m(h, temb)
                hs.append(h)
            elif kind == "attn":
                h = m(h)
                hs[-1] = h
            else:
                h = conv_same(m, h, 2)
                hs.append(h)
        for kind, _, m in self.plan["mid"]:
            h = m(h, temb) if kind == "res" else m(h)
        for kind, _, m in self.plan["up"]:
            if kind == "res":
                h = m(torch.cat([h, hs.pop()], dim=1), temb)
            elif kind == "attn":
                h = m(h)
            else:
                h = conv_same(m, upsample2x(h, kind[1]))
        return conv_same(self._get("out.conv"), F.silu(self._get("out.norm")(h)))


class _Namespace(nn.Module):
    """An empty module that only groups children, so state-dict keys read like DiT's."""


class DiTBlock(nn.Module):
    """adaLN-Zero block: LayerNorm (no affine) → modulate → attention / GELU-tanh MLP, each gated."""

    def __init__(self, h, heads, mlp_hidden, skip=False):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(h, elementwise_affine=False, eps=1e-6)
        self.attn = _Namespace()
        self.attn.qkv = nn.Linear(h, 3 * h)
        self.attn.proj = nn.Linear(h, h)
        self.norm2 = nn.LayerNorm(h, elementwise_affine=False, eps=1e-6)
        self.mlp = _Namespace()
        self.mlp.fc1 = nn.Linear(h, mlp_hidden)
        self.mlp.fc2 = nn.Linear(mlp_hidden, h)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(h, 6 * h))
        if skip:
            self.skip_linear = nn.Linear(2 * h, h)

    def forward(self, x, c, skip=None):
        if skip is not None:
            x = self.skip_linear(torch.cat([x, skip], dim=-1))
        n, length, h = x.shape
        sa, ca, ga, sm, cm, gm = self.adaLN_modulation(c).unsqueeze(1).chunk(6, dim=-1)
        z = self.norm1(x) * (1 + ca) + sa
        q, k, v = self.attn.qkv(z).reshape(n, length, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
        if hasattr(F, "scaled_dot_product_attention"):  # torch ≥ 2.0's fused kernel, as timm uses it
            a = F.scaled_dot_product_attention(q, k, v)
        else:
            a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1) @ v
        a = a.transpose(1, 2).reshape(n, length, h)
        x = x + ga * self.attn.proj(a)
        z = self.norm2(x) * (1 + cm) + sm
        return x + gm * self.mlp.fc2(F.gelu(self.mlp.fc1(z), approximate="tanh"))


class DiT(nn.Module):
    """src/models/dit.ts: forward(x [N, C, H, W], c_noise [N], labels [N] or None) → F, NCHW.

    Constructor arguments as DiT's (learn_sigma must be off), plus difflab's options: bottleneck
    (JiT's p²·C → r → width patch embedding), label_tokens (the label as in-context tokens),
    long_skips (U-ViT) and conditional (false: an unconditional model, whose null row is zero).
    """

    def __init__(self, input_size, patch_size, in_channels, hidden_size, depth, num_heads, mlp_ratio=4.0,
                 class_dropout_prob=0.1, num_classes=0, learn_sigma=False, bottleneck=None, label_tokens=None,
                 long_skips=False, conditional=True, **_):
        super().__init__()
        if learn_sigma:
            raise ValueError("difflab's DiT predicts no variance: learn_sigma must be False")
        h, p = hidden_size, patch_size
        self.p, self.c, self.h, self.depth = p, in_channels, h, depth
        self.num_classes, self.label_tokens, self.long_skips = num_classes, label_tokens, long_skips
        self.grid = input_size // p
        self.x_embedder = _Namespace()
        if bottleneck:
            self.x_embedder.proj1 = nn.Conv2d(in_channels, bottleneck, p, stride=p, bias=False)
            self.x_embedder.proj2 = nn.Conv2d(bottleneck, h, 1)
        else:
            self.x_embedder.proj = nn.Conv2d(in_channels, h, p, stride=p)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.grid ** 2, h), requires_grad=False)
        self.t_embedder = _Namespace()
        self.t_embedder.mlp = nn.Sequential(nn.Linear(256, h), nn.SiLU(), nn.Linear(h, h))
        self.y_embedder = _Namespace()
        self.y_embedder.embedding_table = nn.Embedding(num_classes + (class_dropout_prob > 0), h)
        if label_tokens:
            self.y_embedder.token_pos = nn.Parameter(torch.zeros(label_tokens, h))
        half = depth // 2
        self.skip_from = [depth - 1 - i if long_skips and i >= depth - half else None for i in range(depth)]
        mlp_hidden = int(h * mlp_ratio)
        self.blocks = nn.ModuleList([DiTBlock(h, num_heads, mlp_hidden, self.skip_from[i] is not None) for i in range(depth)])
        self.final_layer = _Namespace()
        self.final_layer.norm_final = nn.LayerNorm(h, elementwise_affine=False, eps=1e-6)
        self.final_layer.linear = nn.Linear(h, p * p * in_channels)
        self.final_layer.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(h, 2 * h))

    @property
    def in_channels(self):
        return self.c

    def forward(self, x, c_noise, labels=None):
        n = x.shape[0]
        e = self.x_embedder
        tok = e.proj2(e.proj1(x)) if hasattr(e, "proj1") else e.proj(x)
        tok = tok.flatten(2).transpose(1, 2) + self.pos_embed
        c = self.t_embedder.mlp(timestep_embedding(c_noise, 256))
        if labels is None:
            labels = torch.full((n,), self.num_classes, dtype=torch.long)
        y = self.y_embedder.embedding_table(labels.long())
        k = 0
        if self.label_tokens:
            k = self.label_tokens
            tok = torch.cat([y[:, None, :] + self.y_embedder.token_pos[None], tok], dim=1)
        else:
            c = c + y
        saved = []
        for i, block in enumerate(self.blocks):
            src = self.skip_from[i]
            tok = block(tok, c, saved[src] if src is not None else None)
            if self.long_skips and i < self.depth // 2:
                saved.append(tok)
        tok = tok[:, k:]
        f = self.final_layer
        shift, scale = f.adaLN_modulation(c).unsqueeze(1).chunk(2, dim=-1)
        out = f.linear(f.norm_final(tok) * (1 + scale) + shift)
        g, p = self.grid, self.p
        # tokens (patch row, patch column, channel) → NCHW, as DiT's unpatchify
        return out.reshape(n, g, g, p, p, self.c).permute(0, 5, 1, 3, 2, 4).reshape(n, self.c, g * p, g * p)


class KLAutoencoder(nn.Module):
    """src/models/vae.ts: encode(x) → (mean, logvar), decode(z) → x̂, NCHW."""

    def __init__(self, image_size, in_channels, channels, channel_mult, num_res_blocks, latent_channels, mid_attention=False, **_):
        super().__init__()
        ch, self.z = channels, latent_channels
        self.sizes = _levels(image_size, len(channel_mult))
        self.tree = nn.ModuleDict()
        self.enc, self.dec = [], []
        _tree(self.tree, "enc.in", nn.Conv2d(in_channels, ch, 3))
        cur = ch
        for level, m in enumerate(channel_mult):
            for i in range(num_res_blocks):
                self.enc.append(("res", _tree(self.tree, f"enc.{level}.res.{i}", ResBlock(cur, ch * m))))
                cur = ch * m
            if level < len(channel_mult) - 1:
                self.enc.append(("down", _tree(self.tree, f"enc.{level}.downsample", nn.Conv2d(cur, cur, 3))))
        self._mid(self.enc, "enc.mid", cur, mid_attention)
        _tree(self.tree, "enc.out.norm", nn.GroupNorm(norm_groups(cur), cur, eps=1e-5))
        _tree(self.tree, "enc.out.conv", nn.Conv2d(cur, 2 * latent_channels, 3))
        top = ch * channel_mult[-1]
        _tree(self.tree, "dec.in", nn.Conv2d(latent_channels, top, 3))
        cur = top
        self._mid(self.dec, "dec.mid", cur, mid_attention)
        for level in reversed(range(len(channel_mult))):
            for i in range(num_res_blocks + 1):
                self.dec.append(("res", _tree(self.tree, f"dec.{level}.res.{i}", ResBlock(cur, ch * channel_mult[level]))))
                cur = ch * channel_mult[level]
            if level > 0:
                self.dec.append((("up", self.sizes[level - 1]), _tree(self.tree, f"dec.{level}.upsample", nn.Conv2d(cur, cur, 3))))
        _tree(self.tree, "dec.out.norm", nn.GroupNorm(norm_groups(cur), cur, eps=1e-5))
        _tree(self.tree, "dec.out.conv", nn.Conv2d(cur, in_channels, 3))

    def _mid(self, stages, name, c, attn):
        stages.append(("res", _tree(self.tree, f"{name}.res.0", ResBlock(c, c))))
        if attn:
            stages.append(("attn", _tree(self.tree, f"{name}.attn", Attention(c, 1))))
        stages.append(("res", _tree(self.tree, f"{name}.res.1", ResBlock(c, c))))

    def _get(self, dotted):
        node = self.tree
        for p in dotted.split("."):
            node = node[p]
        return node

    def _run(self, stages, h):
        for kind, m in stages:
            if kind == "res" or kind == "attn":
                h = m(h)
            elif kind == "down":
                h = conv_same(m, h, 2)
            else:
                h = conv_same(m, upsample2x(h, kind[1]))
        return h

    def encode(self, x):
        h = self._run(self.enc, conv_same(self._get("enc.in"), x))
        moments = conv_same(self._get("enc.out.conv"), F.silu(self._get("enc.out.norm")(h)))
        return moments[:, : self.z], moments[:, self.z :].clamp(-30, 20)

    def decode(self, z):
        h = self._run(self.dec, conv_same(self._get("dec.in"), z))
        return conv_same(self._get("dec.out.conv"), F.silu(self._get("dec.out.norm")(h)))


def _strip(prefix, sd):
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}


def load_export(path):
    """Builds the models of an exported run and loads their weights (strictly: every name must match)."""
    tensors, meta = read_safetensors(path)
    config = json.loads(meta["config"])
    shapes = json.loads(meta["shapes"])
    models = {}
    if "unet" in shapes:
        unet = UNet(**shapes["unet"])
        unet.tree.load_state_dict(_strip("unet.", tensors), strict=True)
        models["unet"] = models["net"] = unet.eval()
    if "dit" in shapes:
        dit = DiT(**shapes["dit"], **shapes.get("dit_options", {}))
        dit.load_state_dict(_strip("dit.", tensors), strict=True)
        models["dit"] = models["net"] = dit.eval()
    if "vae" in shapes:
        vae = KLAutoencoder(**shapes["vae"])
        vae.tree.load_state_dict(_strip("vae.", tensors), strict=True)
        models["vae"] = vae.eval()
    return models, config
