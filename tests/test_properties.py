"""Property-based tests of every loader (issue #16): random and mutated valid files give a clear error
(a ValueError or OSError with a message) or a correct load; never a crash, a hang or a silent wrong result.

Deterministic (``derandomize=True``) and small (a few dozen examples each, about 20 s in all).
"""
import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from motion4d.camera import Cameras
from motion4d.gaussians import Gaussians, load_ply, save_ply

FAST = settings(max_examples=40, deadline=10_000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _clear_error(e: BaseException) -> None:
    """The error a user should get: a ValueError/OSError subclass with a message."""
    assert isinstance(e, (ValueError, OSError)), f"{type(e).__name__}: {e}"
    assert str(e).strip(), f"{type(e).__name__} without a message"


def _expect_clear(fn):
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - the property is about which errors come out
        _clear_error(e)
        return None


# -- PLY --------------------------------------------------------------------------------------------
def _valid_ply(tmp: Path, n: int = 4, degree: int = 1) -> bytes:
    g = torch.Generator().manual_seed(n)
    k = (degree + 1) ** 2
    gs = Gaussians(torch.randn(n, 3, generator=g), torch.nn.functional.normalize(torch.randn(n, 4, generator=g), dim=-1),
                   torch.rand(n, 3, generator=g) * 0.1 + 0.01, torch.rand(n, generator=g) * 0.8 + 0.1, torch.randn(n, k, 3, generator=g) * 0.3)
    save_ply(gs, tmp / "valid.ply")
    return (tmp / "valid.ply").read_bytes()


_HEADER_EDITS = st.sampled_from([
    ("element vertex 4", "element vertex 0"), ("element vertex 4", "element vertex -3"),
    ("element vertex 4", "element vertex 99999999999"), ("element vertex 4", "element vertex abc"),
    ("element vertex 4", "element vertex"), ("property float x", "property float"),
    ("property float x", "property list uchar int x"), ("property float x", "property quad x"),
    ("property float scale_0", "property float x"), ("binary_little_endian", "ascii"),
    ("end_header", "end_headr"), ("ply\n", "plx\n"), ("property float opacity", "property double opacity"),
    ("property float rot_3", "property uchar rot_3"), ("", ""),
])


@FAST
@given(edit=_HEADER_EDITS, flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4),
       cut=st.one_of(st.none(), st.integers(0, 2000)))
def test_ply_mutations(tmp_path_factory, edit, flips, cut):
    tmp = tmp_path_factory.mktemp("ply")
    data = bytearray(_valid_ply(tmp))
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode().replace(edit[0], edit[1], 1) if edit[0] else data[:end].decode()
    data = bytearray(header.encode()) + data[end:]
    for pos, val in flips:
        data[pos % len(data)] = val
    if cut is not None:
        data = data[:cut]
    (tmp / "m.ply").write_bytes(bytes(data))
    model = _expect_clear(lambda: load_ply(tmp / "m.ply"))
    if model is not None:  # a successful load is a correct one: finite values, the header's count
        g = model.gaussians()
        count = int(header.split("element vertex ")[1].split()[0])
        assert len(g) == count
        for t in (g.means, g.scales, g.quats, g.opacities, g.sh):
            assert torch.isfinite(t).all()


@FAST
@given(st.binary(max_size=600))
def test_ply_random_bytes(tmp_path_factory, blob):
    tmp = tmp_path_factory.mktemp("plyr")
    (tmp / "r.ply").write_bytes(b"ply\n" + blob if blob[:1] == b"\x00" else blob)
    _expect_clear(lambda: load_ply(tmp / "r.ply"))


def test_ply_roundtrip_is_exact(tmp_path):
    raw = _valid_ply(tmp_path, n=7, degree=2)
    a = load_ply(tmp_path / "valid.ply")
    (tmp_path / "again.ply").write_bytes(raw)
    save_ply(a, tmp_path / "b.ply")
    assert (tmp_path / "b.ply").read_bytes() == raw


# -- cameras.json -----------------------------------------------------------------------------------
_JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.text(max_size=12),
                       st.floats(allow_nan=True, allow_infinity=True))
_JSON = st.recursive(_JSON_LEAF, lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                         st.dictionaries(st.text(max_size=6), inner, max_size=5)),
                     max_leaves=20)
_CAM_KEYS = ["name", "fx", "fy", "cx", "cy", "c2w", "elevation", "azimuth", "radius"]


def _check_cameras(cams: Cameras) -> None:
    assert torch.isfinite(cams.viewmats).all() and torch.isfinite(cams.Ks).all()
    assert (cams.Ks[:, 0, 0] > 0).all() and (cams.Ks[:, 1, 1] > 0).all()
    R = cams.c2w[:, :3, :3].double()
    assert torch.allclose(R.transpose(1, 2) @ R, torch.eye(3, dtype=torch.float64).expand_as(R), atol=1e-2)
    assert len(set(cams.names)) == len(cams.names)
    for n in cams.names:
        assert "/" not in n and "\\" not in n and n not in (".", "..")


@FAST
@given(where=st.sampled_from(["top", "camera", "c2w_row", "c2w_value"]), key=st.sampled_from(_CAM_KEYS + ["width",
       "height", "convention", "cameras"]), value=_JSON, index=st.integers(0, 3), duplicate=st.booleans())
def test_camera_json_mutations(where, key, value, index, duplicate):
    data = Cameras.orbit([0.0, 20.0], [0.0, 90.0], width=16).to_dict()
    data["cameras"][1]["name"] = "side"
    if where == "top":
        data[key if key in ("width", "height", "convention", "cameras") else "width"] = value
    elif where == "camera":
        data["cameras"][index % 2][key if key in _CAM_KEYS else "fx"] = value
    elif where == "c2w_row":
        data["cameras"][0]["c2w"][index] = value
    else:
        data["cameras"][0]["c2w"][index][index % 4] = value
    cams_list = data.get("cameras")
    if duplicate and isinstance(cams_list, list) and cams_list and isinstance(cams_list[0], dict):
        cams_list.append(dict(cams_list[0]))
    text = json.dumps(data, allow_nan=True)  # what a careless file may hold (NaN, Infinity)
    cams = _expect_clear(lambda: Cameras.from_dict(json.loads(text), source="cameras.json"))
    if cams is not None:
        _check_cameras(cams)


@FAST
@given(_JSON)
def test_camera_json_random(value):
    cams = _expect_clear(lambda: Cameras.from_dict(value))
    if cams is not None:
        _check_cameras(cams)


# -- config / YAML ------------------------------------------------------------------------------------
_LIFT_KEYS = ["seed", "device", "input.num_frames", "input.size", "input.segmentation", "input.holdout",
              "input.border_ratio", "camera.radius", "camera.fovy", "camera.background", "static.iters",
              "static.lr_sh", "static.init", "dynamic.iters", "dynamic.deform.resolution", "dynamic.gaussian_lr_scale",
              "guidance.kind", "guidance.options", "output.fps", "output.mesh_resolution", "output.video_size",
              "nope", "input.nope", "input", "dynamic.deform"]


def _nest(key: str, value):
    out = value
    for part in reversed(key.split(".")):
        out = {part: out}
    return out


@FAST
@given(items=st.lists(st.tuples(st.sampled_from(_LIFT_KEYS), _JSON), min_size=1, max_size=3),
       raw=st.one_of(st.none(), st.text(max_size=40)))
def test_lift_config_yaml(tmp_path_factory, items, raw):
    import yaml

    from motion4d.lift.config import LiftConfig, load_lift_config

    tmp = tmp_path_factory.mktemp("cfg")
    data: dict = {}
    for key, value in items:
        data.update(_nest(key, value))
    text = raw if raw is not None else yaml.safe_dump(data)
    (tmp / "c.yaml").write_text(text)
    cfg = _expect_clear(lambda: load_lift_config("default", file=tmp / "c.yaml"))
    if cfg is not None:
        assert isinstance(cfg, LiftConfig)
        assert cfg.output.fps >= 1 and cfg.output.mesh_resolution >= 8 and 0 < cfg.camera.fovy < 180
        assert ":" not in cfg.input.segmentation  # a code hook from a file needs --allow-code
        assert math.isfinite(cfg.camera.radius) and cfg.camera.radius > 0


@FAST
@given(items=st.lists(st.tuples(st.sampled_from(_LIFT_KEYS), st.text(max_size=12)), min_size=1, max_size=3))
def test_lift_config_overrides(items):
    from motion4d.lift.config import load_lift_config

    _expect_clear(lambda: load_lift_config("default", overrides=[f"{k}={v}" for k, v in items]))


# -- frame folders ------------------------------------------------------------------------------------
_IMAGE = st.tuples(st.sampled_from(["L", "LA", "RGB", "RGBA", "I;16", "P", "1", "corrupt", "empty", "text"]),
                   st.integers(1, 12), st.integers(1, 12), st.sampled_from([".png", ".jpg", ".webp", ".bmp"]))


@FAST
@given(images=st.lists(_IMAGE, max_size=4), seed=st.integers(0, 3))
def test_frame_folders(tmp_path_factory, images, seed):
    from PIL import Image

    from motion4d.lift.inputs import read_frames

    tmp = tmp_path_factory.mktemp("frames")
    rng = np.random.default_rng(seed)
    for i, (mode, w, h, ext) in enumerate(images):
        f = tmp / f"{i:03d}{ext}"
        if mode == "corrupt":
            f.write_bytes(rng.bytes(40))
        elif mode == "empty":
            f.write_bytes(b"")
        elif mode == "text":
            f.write_text("not an image")
        else:
            img = Image.fromarray(rng.integers(0, 255, (h, w, 4), dtype=np.uint8), "RGBA").convert(mode)
            if ext == ".jpg" and mode not in ("L", "RGB"):
                img = img.convert("RGB")
            try:
                img.save(f)
            except (OSError, ValueError, KeyError):
                f.write_bytes(b"")  # a mode this format cannot store: an unreadable file instead
    frames = _expect_clear(lambda: read_frames(tmp))
    if frames is not None:
        assert frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[-1] in (3, 4)
        assert frames.shape[0] == len(images)


# -- MotionDirector files -------------------------------------------------------------------------------
def _fake_unet() -> torch.nn.Module:
    """A module with the UNet3D layer names that the MotionDirector layouts target (no diffusers needed):
    one spatial and one temporal transformer block with attention and feed-forward Linears."""
    def put(root, dotted, module):
        parts = dotted.split(".")
        for p in parts[:-1]:
            if p not in root._modules:
                root.add_module(p, torch.nn.ModuleDict())
            root = root._modules[p]
        root.add_module(parts[-1], module)

    unet = torch.nn.Module()
    unet.config = {}
    for prefix, attns in (("down_blocks.0.attentions.0.transformer_blocks.0", ("attn1",)),
                          ("down_blocks.0.temp_attentions.0.transformer_blocks.0", ("attn1", "attn2"))):
        for a in attns:
            for proj in ("to_q", "to_k", "to_v", "to_out.0"):
                put(unet, f"{prefix}.{a}.{proj}", torch.nn.Linear(8, 8))
        put(unet, f"{prefix}.ff.net.0.proj", torch.nn.Linear(8, 16))
        put(unet, f"{prefix}.ff.net.2", torch.nn.Linear(8, 8))
    return unet


@pytest.fixture(scope="module")
def tiny_unet():
    return _fake_unet()


def _md_tensors(unet, kind: str) -> list[torch.Tensor]:
    from motion4d.video.lora import target_module_names

    out = []
    for name in target_module_names(unet, kind):
        layer = unet.get_submodule(name)
        out += [torch.zeros(layer.out_features, 2), torch.zeros(2, layer.in_features)]
    return out


_MD_EDITS = st.sampled_from(["none", "drop_one", "swap_pair", "rank_mismatch", "nan", "not_a_list", "dict",
                             "ints", "bytes", "truncate", "empty_list", "scalar"])


@settings(max_examples=15, deadline=20_000, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(edit=_MD_EDITS, kind=st.sampled_from(["spatial", "temporal"]), seed=st.integers(0, 5))
def test_motiondirector_files(tmp_path_factory, tiny_unet, edit, kind, seed):
    from motion4d.video.convert import convert_motiondirector

    tmp = tmp_path_factory.mktemp("md")
    tensors = _md_tensors(tiny_unet, kind)
    obj: object = tensors
    if edit == "drop_one":
        obj = tensors[:-1]
    elif edit == "swap_pair":
        obj = [tensors[1], tensors[0]] + tensors[2:]
    elif edit == "rank_mismatch":
        obj = [tensors[0], torch.zeros(3, tensors[1].shape[1])] + tensors[2:]
    elif edit == "nan":
        obj = [t.clone().fill_(float("nan")) if i == seed % len(tensors) else t for i, t in enumerate(tensors)]
    elif edit == "not_a_list":
        obj = tensors[0]
    elif edit == "dict":
        obj = {"unet": tensors}
    elif edit == "ints":
        obj = list(range(len(tensors)))
    elif edit == "empty_list":
        obj = []
    elif edit == "scalar":
        obj = 7
    file = tmp / "100_unet.pt"
    torch.save(obj, file)
    if edit == "bytes":
        file.write_bytes(np.random.default_rng(seed).bytes(300))
    elif edit == "truncate":
        file.write_bytes(file.read_bytes()[: 50 + 37 * seed])
    written = _expect_clear(lambda: convert_motiondirector(file, tmp / "out", unet=tiny_unet))
    if written is not None:  # only the untouched list (or the NaN one: refused below) may convert
        assert edit == "none", f"{edit} was accepted"
        from safetensors.torch import load_file

        state = load_file(str(written[kind]))
        assert len(state) == len(tensors) and all(torch.isfinite(t).all() for t in state.values())


def test_struct_sanity():  # the PLY mutations rely on little-endian float32 vertex data
    assert struct.calcsize("<f") == 4


@pytest.mark.parametrize("kind", ["spatial", "temporal"])
def test_motiondirector_valid_list_converts(tmp_path, tiny_unet, kind):
    """The unmutated file converts (so the property above is not passing by refusing everything)."""
    from safetensors.torch import load_file

    from motion4d.video.convert import convert_motiondirector

    torch.save(_md_tensors(tiny_unet, kind), tmp_path / "100_unet.pt")
    written = convert_motiondirector(tmp_path / "100_unet.pt", tmp_path / "out", unet=tiny_unet)
    assert set(written) == {kind} and len(load_file(str(written[kind]))) == len(_md_tensors(tiny_unet, kind))


# -- training checkpoints --------------------------------------------------------------------------------------
def _valid_state(tmp: Path) -> tuple[bytes, torch.nn.Module]:
    from motion4d.utils.training_state import save_train_state

    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net(torch.randn(4, 3)).sum().backward()
    opt.step()
    save_train_state(tmp / "state.safetensors", step=7, optimizers={"main": opt},
                     generators={"data": torch.Generator().manual_seed(1)}, meta={"stage": "static"})
    return (tmp / "state.safetensors").read_bytes(), net


@FAST
@given(flips=st.lists(st.tuples(st.integers(0, 100_000), st.integers(0, 255)), max_size=4),
       cut=st.one_of(st.none(), st.integers(0, 3000)), blob=st.one_of(st.none(), st.binary(max_size=300)))
def test_training_state_mutations(tmp_path_factory, flips, cut, blob):
    """A damaged, truncated or random checkpoint state gives a clear error (so --resume can fall back to the
    checkpoint before it) or a load whose step is the saved one."""
    from motion4d.utils.training_state import load_train_state

    tmp = tmp_path_factory.mktemp("state")
    data, net = _valid_state(tmp)
    data = bytearray(blob if blob is not None else data)
    for pos, val in flips:
        if data:
            data[pos % len(data)] = val
    if cut is not None:
        data = data[:cut]
    (tmp / "m.safetensors").write_bytes(bytes(data))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    state = _expect_clear(lambda: load_train_state(tmp / "m.safetensors", optimizers={"main": opt},
                                                   restore_global_rng=False))
    if state is not None:
        assert isinstance(state.step, int)
