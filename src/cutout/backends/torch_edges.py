"""Edge refinement in torch, on the model's device: :mod:`cutout.imaging.edges` step for
step, for a model that runs on a GPU, where the numpy/OpenCV path on the host CPU would
become the slowest stage.

The method, its levels (:data:`~cutout.imaging.edges.LEVELS`), its constants and its
guarantees are the imaging module's; only the array library changes, and each OpenCV
call has a data-parallel equivalent:

- area reduction (``INTER_AREA`` / Pillow ``BOX``): exact pixel-coverage averages from
  running sums along each axis;
- distance transforms: jump flooding (log2(n) passes of 8 neighbours) gives each pixel its
  nearest seed; trimap distances are OpenCV's own 3 x 3 chamfer length of the offset to
  it (``DIST_L2``, mask 3: 0.955 per step, 1.3693 per diagonal), searched only as far as
  the distances compared (reach, band); nearest-colour samples are searched as far as the
  reach and, when a pixel of the band found none there, over the whole image;
- pyramids (``pyrDown`` / ``pyrUp``): the same 5-tap binomial kernel by strided
  convolution, with OpenCV's borders;
- box filters: average pooling over a symmetric (``BORDER_REFLECT``) pad;
- nearest / bilinear resizes: index maps and ``grid_sample`` at the pixels that need it.

Work runs on whole images (masked) rather than on gathered pixel lists, which a GPU
prefers. The photo, matte and input alpha go to the device once; the alpha and colours
come back once. Results match the numpy path to a few hundredths of alpha in the band
(tests/backends/test_torch_edges.py measures it); they are not bit-identical.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as functional

from cutout.arrays import ByteArray, FloatArray
from cutout.imaging import foreground as colour_facts
from cutout.imaging.edges import (
    LEVELS,
    MATTE_BACKGROUND,
    MATTE_FOREGROUND,
    MIN_SIDE,
    UNDECIDED,
    EdgeParams,
    Edges,
    Geometry,
    checked_matte,
    matte_confidence,
    refine_edges,
)
from cutout.options import EdgeLevel

__all__ = ["refine_edges_torch"]

Tensor = torch.Tensor

# OpenCV's DIST_L2 with a 3 x 3 mask: the cost of a straight and of a diagonal step
_CHAMFER_STEP = 0.955
_CHAMFER_DIAGONAL = 1.3693
# a coordinate no pixel has: "no seed here" in jump flooding
_NO_SEED = 1.0e7
_BINOMIAL = (1.0, 4.0, 6.0, 4.0, 1.0)


def refine_edges_torch(
    rgb: ByteArray,
    matte: ByteArray | FloatArray,
    level: EdgeLevel = "balanced",
    *,
    colours: bool = True,
    keep: ByteArray | None = None,
    device: torch.device | str = "cpu",
) -> Edges:
    """:func:`cutout.imaging.edges.refine_edges` on the torch ``device``: same arguments,
    same result type, same guarantees."""
    matte8 = checked_matte(rgb, matte)
    if level == "off" or min(matte8.shape) < MIN_SIDE:
        # nothing to refine: the host path is a copy and a count
        return refine_edges(rgb, matte8, level, colours=colours, keep=keep)
    params = LEVELS[level]
    target = torch.device(device)
    with torch.inference_mode():
        photo = torch.from_numpy(np.ascontiguousarray(rgb)).to(target)
        matte_t = torch.from_numpy(np.ascontiguousarray(matte8)).to(target)
        refined = _refine(photo, matte_t, params)
        alpha8 = refined.alpha
        if keep is not None:
            alpha8 = torch.minimum(alpha8, torch.from_numpy(np.ascontiguousarray(keep)).to(target))
        out_rgb = rgb
        if colours:
            unit = alpha8.float() * (1.0 / 255.0)
            reduced = None
            if refined.work is not None and keep is None:
                reduced = _reduced(*refined.work, params.colour_size)
            coloured = _refine_foreground(photo, unit, params.colour_size, reduced)
            out_rgb = coloured.cpu().numpy()
        alpha_host: ByteArray = alpha8.cpu().numpy()
    confidence = refined.confidence
    if confidence is None:
        confidence = matte_confidence(matte8)
    return Edges(alpha=alpha_host, rgb=out_rgb, confidence=confidence)


# -- the refinement ---------------------------------------------------------------------


@dataclass
class _Pass:
    """One pass's answer at the working size (whole-image tensors)."""

    alpha: Tensor  # h x w: the refined alpha (the matte outside ``region``)
    region: Tensor  # h x w bool: the pixels this pass estimated
    coeff: Tensor  # 4 x h x w: the guided filter's A (3) and b
    trust: Tensor  # h x w: how far the colours decided each estimated pixel


@dataclass(frozen=True)
class _Refined:
    alpha: Tensor  # H x W uint8
    confidence: float | None  # None: nothing was refined, the matte's own (on the host)
    # the working copy (3 x h x w image in [0, 1], refined alpha) when smaller than the photo
    work: tuple[Tensor, Tensor] | None


def _refine(photo: Tensor, matte8: Tensor, params: EdgeParams) -> _Refined:
    height, width = matte8.shape
    scale = min(1.0, math.sqrt(params.work_pixels / (height * width)))
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    planar = photo.permute(2, 0, 1)
    if scale < 1.0:
        image = _area_reduce_levels(planar, size)
        small8 = _area_reduce_levels(matte8[None], size)[0]
    else:
        image, small8 = planar.float(), matte8.float()
    pixels = image * (1.0 / 255.0)
    matte = small8 * (1.0 / 255.0)
    geometry = Geometry.of(params, max(size))
    dist_out, dist_in = _outline_distances(matte, geometry.reach)
    near = (dist_out <= geometry.reach) & (dist_in <= geometry.reach)
    result = _estimate(pixels, matte, near, geometry, params, (dist_out, dist_in))
    if result is None:
        return _Refined(matte8, None, None)
    confidence = _confidence(result.trust, matte, result.region)
    for _ in range(params.passes - 1):
        again = _estimate(pixels, result.alpha, near, geometry, params, None)
        if again is None:
            break
        result = again
    if scale == 1.0:
        return _Refined(_to_byte(result.alpha), confidence, None)
    alpha8 = _full_size(photo, matte8, near, result)
    return _Refined(alpha8, confidence, (pixels, result.alpha))


def _estimate(
    pixels: Tensor,
    matte: Tensor,
    near: Tensor,
    geometry: Geometry,
    params: EdgeParams,
    distances: tuple[Tensor, Tensor] | None,
) -> _Pass | None:
    """One pass at the working size: trimap from ``matte``, samples, guided filter."""
    # the trimap compares distances with the band and the erosion only
    dist_out, dist_in = distances or _outline_distances(matte, geometry.band + 1)
    foreground = (matte >= MATTE_FOREGROUND) & (dist_in > geometry.erode)
    background = (matte <= MATTE_BACKGROUND) & (dist_out > geometry.band)
    unknown = near & ~foreground & ~background
    if not bool(torch.stack([unknown.any(), foreground.any(), background.any()]).all()):
        return None

    # the nearest samples are usually within the reach; farther ones are searched for
    cover = geometry.reach + geometry.band
    estimate, trust = _select(
        pixels,
        _candidates(pixels, foreground, unknown, cover),
        _candidates(pixels, background, unknown, cover),
        params,
    )
    target = torch.where(foreground, 1.0, torch.where(background, 0.0, matte))
    target = torch.where(unknown, trust * estimate + (1.0 - trust) * matte, target)
    coeff = _guided_coefficients(pixels, target, geometry.radius, params.guide_eps)
    values = (coeff[:3] * pixels).sum(0) + coeff[3]
    alpha = torch.where(near & foreground, 1.0, matte)
    alpha = torch.where(unknown, values.clamp(0.0, 1.0), alpha)
    return _Pass(alpha=alpha, region=unknown, coeff=coeff, trust=torch.where(unknown, trust, 0.0))


def _full_size(photo: Tensor, matte8: Tensor, near: Tensor, result: _Pass) -> Tensor:
    """The working-size answer at the photo's size: hard pixels from the working alpha,
    soft ones from the guided filter's coefficients applied to the full-size photo."""
    height, width = matte8.shape
    work8 = _to_byte(result.alpha)
    alpha8 = torch.where(
        _nearest_up(near, height, width), _nearest_up(work8, height, width), matte8
    )
    # soft: estimated pixels whose working alpha is strictly between 0 and 1, and their
    # neighbours (a strand one working pixel wide spans several photo pixels)
    soft = result.region & (work8 > 0) & (work8 < 255)
    soft = functional.max_pool2d(soft[None, None].float(), 3, stride=1, padding=1)[0, 0] > 0
    soft &= result.region
    flat = torch.nonzero(_nearest_up(soft, height, width).reshape(-1)).squeeze(1)
    if flat.numel() == 0:
        return alpha8
    rows, cols = flat // width, flat % width
    coeff = _bilinear_at(result.coeff, rows, cols, height, width)
    colour = photo.reshape(-1, 3)[flat].float() * (1.0 / 255.0)
    values = (coeff[:, :3] * colour).sum(1) + coeff[:, 3]
    alpha8.reshape(-1)[flat] = _to_byte(values.clamp(0.0, 1.0))
    return alpha8


def _candidates(pixels: Tensor, known: Tensor, wanted: Tensor, cover: int) -> list[Tensor]:
    """Colour candidates (for the ``wanted`` pixels; computed everywhere): the nearest
    known pixel's colour and a smooth fill of the known region."""
    return [_nearest_colour(pixels, known, wanted, cover), _fill(pixels, known)]


def _nearest_colour(pixels: Tensor, known: Tensor, wanted: Tensor, cover: int) -> Tensor:
    seed_rows, seed_cols = _nearest_seed(known, wanted, cover)
    width = known.shape[1]
    index = (seed_rows * width + seed_cols).long().clamp(0, known.numel() - 1)
    return pixels.reshape(3, -1)[:, index.reshape(-1)].reshape(pixels.shape)


def _fill(pixels: Tensor, known: Tensor) -> Tensor:
    """Known colours spread smoothly over the unknown (pyramid push-pull), built from the
    half-size level up, as the numpy path does."""
    weight = known[None].float()
    weights = [_pyr_down(weight)]
    values = [_pyr_down(pixels * weight)]
    while min(weights[-1].shape[1:]) > 4:
        weights.append(_pyr_down(weights[-1]))
        values.append(_pyr_down(values[-1]))
    estimate = values[-1] / weights[-1].clamp(min=1e-6)
    for level in range(len(values) - 2, -1, -1):
        height, width = weights[level].shape[1:]
        up = _pyr_up(estimate, height, width)
        mix = (weights[level] * 4.0).clamp(0.0, 1.0)
        own = values[level] / weights[level].clamp(min=1e-6)
        estimate = own * mix + up * (1.0 - mix)
    size = known.shape
    return functional.interpolate(
        estimate[None], size=(size[0], size[1]), mode="bilinear", align_corners=False
    )[0]


def _select(
    colour: Tensor, fg_candidates: list[Tensor], bg_candidates: list[Tensor], params: EdgeParams
) -> tuple[Tensor, Tensor]:
    """The alpha of the best (F, B) pair per pixel, and the trust in it."""
    best_cost = torch.full(colour.shape[1:], math.inf, device=colour.device)
    best_alpha = torch.zeros_like(best_cost)
    best_trust = torch.zeros_like(best_cost)
    for fg in fg_candidates:
        for bg in bg_candidates:
            direction = fg - bg
            spread = (direction * direction).sum(0)
            alpha = (((colour - bg) * direction).sum(0) / (spread + 1e-4)).clamp(0.0, 1.0)
            error = colour - bg - alpha * direction
            residual = (error * error).sum(0)
            cost = residual + params.separation / (spread + 1e-3)
            better = cost < best_cost
            best_cost = torch.where(better, cost, best_cost)
            best_alpha = torch.where(better, alpha, best_alpha)
            trust = spread / (spread + params.contrast) * torch.exp(-residual / params.residual)
            best_trust = torch.where(better, trust, best_trust)
    return best_alpha, best_trust


def _guided_coefficients(guide: Tensor, target: Tensor, radius: int, eps: float) -> Tensor:
    """Colour guided filter (He, Sun, Tang): the window-averaged ``A`` and ``b`` stacked as
    4 x h x w, so that the filtered target is ``A . I + b``."""
    pairs = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))
    stacked = torch.cat(
        [
            guide,
            target[None],
            guide * target[None],
            torch.stack([guide[i] * guide[j] for i, j in pairs]),
        ]
    )
    means = _box(stacked, radius)
    mean_i, mean_p, mean_ip, second = means[:3], means[3], means[4:7], means[7:]
    cov_ip = mean_ip - mean_i * mean_p
    var = [second[k] - mean_i[i] * mean_i[j] for k, (i, j) in enumerate(pairs)]
    rr, rg, rb, gg, gb, bb = var
    rr = rr + eps
    gg = gg + eps
    bb = bb + eps
    # inverse of the symmetric 3 x 3 covariance by cofactors
    i_rr = gg * bb - gb * gb
    i_rg = gb * rb - rg * bb
    i_rb = rg * gb - gg * rb
    i_gg = rr * bb - rb * rb
    i_gb = rb * rg - rr * gb
    i_bb = rr * gg - rg * rg
    det = rr * i_rr + rg * i_rg + rb * i_rb
    inv_det = 1.0 / det.clamp(min=1e-12)
    c_r, c_g, c_b = cov_ip[0], cov_ip[1], cov_ip[2]
    coeff = torch.stack(
        [
            (i_rr * c_r + i_rg * c_g + i_rb * c_b) * inv_det,
            (i_rg * c_r + i_gg * c_g + i_gb * c_b) * inv_det,
            (i_rb * c_r + i_gb * c_g + i_bb * c_b) * inv_det,
        ]
    )
    offset = mean_p - (coeff * mean_i).sum(0)
    return _box(torch.cat([coeff, offset[None]]), radius)


# -- confidence ---------------------------------------------------------------------------


def _confidence(trust: Tensor, prior: Tensor, region: Tensor) -> float:
    """1 - the share of the unknown band that neither the colours nor the model decided."""
    undecided = (prior > UNDECIDED) & (prior < 1.0 - UNDECIDED) & region
    doubt = ((1.0 - trust) * undecided).sum() / region.sum().clamp(min=1)
    return float((1.0 - doubt).clamp(0.0, 1.0))


# -- distances ----------------------------------------------------------------------------


def _outline_distances(matte: Tensor, cover: int) -> tuple[Tensor, Tensor]:
    """OpenCV's ``distanceTransform`` (DIST_L2, mask 3) of the outside and the inside of
    the matte's 0.5 level, exact as far as ``cover`` (farther: some larger value)."""
    core = matte >= 0.5
    # a chamfer length of ``cover`` spans up to cover / 0.955 pixels along an axis
    offset = math.ceil(cover / _CHAMFER_STEP) + 1
    return _chamfer(core, offset), _chamfer(~core, offset)


def _chamfer(seeds: Tensor, cover: int) -> Tensor:
    """The 3 x 3 chamfer distance of each pixel to the seeds (nearest in that metric)."""
    return _jump_flood(seeds, cover, chamfer=True)[2]


def _nearest_seed(seeds: Tensor, wanted: Tensor, cover: int) -> tuple[Tensor, Tensor]:
    """Each pixel's nearest seed (rows, columns), searched as far as ``cover`` and, when a
    ``wanted`` pixel found none that near, over the whole image."""
    seed_rows, seed_cols, found, reached = _jump_flood(seeds, cover)
    if bool((found > reached * reached)[wanted].any()):
        seed_rows, seed_cols, _, _ = _jump_flood(seeds, max(seeds.shape))
    return seed_rows, seed_cols


def _grid(array: Tensor) -> tuple[Tensor, Tensor]:
    height, width = array.shape
    rows = torch.arange(height, device=array.device, dtype=torch.float32)[:, None]
    cols = torch.arange(width, device=array.device, dtype=torch.float32)[None, :]
    return rows, cols


def _jump_flood(
    seeds: Tensor, cover: int, *, chamfer: bool = False
) -> tuple[Tensor, Tensor, Tensor, int]:
    """Each pixel's nearest seed (rows and columns as h x w floats, about :data:`_NO_SEED`
    for none) and its distance to it, squared Euclidean or (``chamfer``) OpenCV's 3 x 3
    chamfer length, by jump flooding with steps from about ``cover`` / 2 down to 1 and
    one more step of 1 (JFA+1); and the offset along each axis up to which seeds are
    searched (at least ``cover``). A seed farther than that may be missed."""
    height, width = seeds.shape
    rows, cols = _grid(seeds)
    seed_rows = torch.where(seeds, rows, _NO_SEED)
    seed_cols = torch.where(seeds, cols, _NO_SEED)
    best = _length(rows - seed_rows, cols - seed_cols, chamfer)
    cover = max(1, min(cover, max(height, width)))
    first = 1 << max(0, (cover - 1).bit_length() - 1)
    steps = [first >> shift for shift in range(first.bit_length())]
    for step in [*steps, 1]:
        padded = functional.pad(
            torch.stack([seed_rows, seed_cols]), (step, step, step, step), value=_NO_SEED
        )
        for d_row in (-step, 0, step):
            for d_col in (-step, 0, step):
                if d_row == 0 and d_col == 0:
                    continue
                top, left = step + d_row, step + d_col
                candidate_rows = padded[0, top : top + height, left : left + width]
                candidate_cols = padded[1, top : top + height, left : left + width]
                distance = _length(rows - candidate_rows, cols - candidate_cols, chamfer)
                better = distance < best
                best = torch.minimum(distance, best)
                seed_rows = torch.where(better, candidate_rows, seed_rows)
                seed_cols = torch.where(better, candidate_cols, seed_cols)
    return seed_rows, seed_cols, best, 2 * first - 1


def _length(along_rows: Tensor, along_cols: Tensor, chamfer: bool) -> Tensor:
    """Squared Euclidean or 3 x 3 chamfer length of offsets."""
    if not chamfer:
        return torch.addcmul(along_rows * along_rows, along_cols, along_cols)
    along_rows, along_cols = along_rows.abs(), along_cols.abs()
    longer, shorter = torch.maximum(along_rows, along_cols), torch.minimum(along_rows, along_cols)
    return torch.add(longer * _CHAMFER_STEP, shorter, alpha=_CHAMFER_DIAGONAL - _CHAMFER_STEP)


# -- filters and resizes ----------------------------------------------------------------


def _box(array: Tensor, radius: int) -> Tensor:
    """C x h x w mean over (2r+1)^2 windows, mirrored at the borders (BORDER_REFLECT)."""
    size = 2 * radius + 1
    padded = _pad_index(array, radius, symmetric=True)
    rows = functional.avg_pool2d(padded[None], (size, 1), stride=1)
    return functional.avg_pool2d(rows, (1, size), stride=1)[0]


def _pad_index(array: Tensor, pad: int, *, symmetric: bool) -> Tensor:
    """C x h x w padded by ``pad`` on each side, mirrored: with the edge pixel repeated
    (``symmetric``, BORDER_REFLECT) or not (BORDER_REFLECT_101); any size, even 1."""
    out = array
    for dim in (1, 2):
        length = array.shape[dim]
        index = torch.arange(-pad, length + pad, device=array.device)
        if symmetric:
            index = torch.where(index < 0, -index - 1, index)
            index = torch.where(index > length - 1, 2 * length - 1 - index, index)
        else:
            index = index.abs()
            index = torch.where(index > length - 1, 2 * (length - 1) - index, index)
        out = out.index_select(dim, index.clamp(0, length - 1))
    return out


def _pyr_down(array: Tensor) -> Tensor:
    """cv2.pyrDown of C x h x w: 5-tap binomial blur (BORDER_REFLECT_101), every other pixel."""
    channels = array.shape[0]
    kernel = torch.tensor(_BINOMIAL, device=array.device) / 16.0
    padded = _pad_index(array, 2, symmetric=False)[:, None]
    rows = functional.conv2d(padded, kernel.view(1, 1, 5, 1), stride=(2, 1))
    both = functional.conv2d(rows, kernel.view(1, 1, 1, 5), stride=(1, 2))
    return both.view(channels, both.shape[2], both.shape[3])


def _pyr_up(array: Tensor, height: int, width: int) -> Tensor:
    """cv2.pyrUp of C x h x w to ``height`` x ``width`` (2h or 2h - 1 ...): even outputs
    (s[i-1] + 6 s[i] + s[i+1]) / 8, odd ones (s[i] + s[i+1]) / 2; mirrored at the start,
    repeated at the end, as OpenCV does."""
    return _up_axis(_up_axis(array, 1, height), 2, width)


def _up_axis(array: Tensor, dim: int, length: int) -> Tensor:
    size = array.shape[dim]
    index = torch.arange(-1, size + 1, device=array.device)
    index[0] = 1 if size > 1 else 0
    index[-1] = size - 1
    padded = array.index_select(dim, index)
    before = padded.narrow(dim, 0, size)
    centre = padded.narrow(dim, 1, size)
    after = padded.narrow(dim, 2, size)
    even = (before + 6.0 * centre + after) / 8.0
    odd = (centre + after) / 2.0
    woven = torch.stack([even, odd], dim=dim + 1).flatten(dim, dim + 1)
    return woven.narrow(dim, 0, length)


def _area(array: Tensor, height: int, width: int) -> Tensor:
    """C x H x W float averaged down to ``height`` x ``width`` by pixel coverage (OpenCV's
    INTER_AREA and Pillow's BOX when reducing)."""
    return _area_axis(_area_axis(array, 1, height), 2, width)


def _area_axis(array: Tensor, dim: int, length: int) -> Tensor:
    size = array.shape[dim]
    if length == size:
        return array.float()
    scale = size / length
    # running sums over thousands of levels want float64; MPS has none
    wide = array.float() if array.device.type == "mps" else array.double()
    sums = torch.cumsum(wide, dim)
    sums = torch.cat([torch.zeros_like(sums.narrow(dim, 0, 1)), sums], dim)
    edges = torch.arange(length + 1, device=array.device, dtype=wide.dtype) * scale
    edges[-1] = size
    index = edges.floor().long().clamp(max=size - 1)
    shape = [1] * array.dim()
    shape[dim] = length + 1
    fraction = (edges - index).view(shape)
    # the integral of the pixel values up to each window edge
    integral = sums.index_select(dim, index) + fraction * wide.index_select(dim, index)
    totals = integral.narrow(dim, 1, length) - integral.narrow(dim, 0, length)
    return (totals / scale).float()


def _area_reduce_levels(array: Tensor, size: tuple[int, int]) -> Tensor:
    """The numpy path's reduction of 8-bit C x H x W: by a whole factor first, then to
    ``size`` (height, width), rounding to levels after each step as OpenCV's uint8 does."""
    height, width = array.shape[1:]
    result = array.float()
    factor = min(width // size[1], height // size[0])
    if factor >= 2:
        whole = (height // factor, width // factor)
        result = _area(result, *whole).round()
        if whole == size:
            return result
    return _area(result, *size).round()


def _reduced(image: Tensor, alpha: Tensor, long_side: int) -> tuple[Tensor, Tensor]:
    """The working copy area-reduced to ``long_side`` (for the edge colours)."""
    height, width = alpha.shape
    factor = max(1.0, max(height, width) / long_side)
    if factor == 1.0:
        return image, alpha
    size = (max(1, round(height / factor)), max(1, round(width / factor)))
    return _area(image, *size), _area(alpha[None], *size)[0]


def _nearest_up(array: Tensor, height: int, width: int) -> Tensor:
    """h x w resized to ``height`` x ``width`` nearest-neighbour (OpenCV's INTER_NEAREST)."""
    small_h, small_w = array.shape
    rows = torch.arange(height, device=array.device) * small_h // height
    cols = torch.arange(width, device=array.device) * small_w // width
    return array.index_select(0, rows).index_select(1, cols)


def _bilinear_at(array: Tensor, rows: Tensor, cols: Tensor, height: int, width: int) -> Tensor:
    """C x h x w resized bilinearly to ``height`` x ``width`` (pixel centres aligned, edge
    pixels repeated), read only at the pixels (``rows``, ``cols``): N x C."""
    grid = torch.stack(
        [(2.0 * cols.float() + 1.0) / width - 1.0, (2.0 * rows.float() + 1.0) / height - 1.0],
        dim=1,
    )
    sampled = functional.grid_sample(
        array[None], grid[None, None], mode="bilinear", padding_mode="border", align_corners=False
    )
    return sampled[0, :, 0].T


def _to_byte(alpha: Tensor) -> Tensor:
    return (alpha * 255.0 + 0.5).to(torch.uint8)


# -- edge colours -----------------------------------------------------------------------


def _refine_foreground(
    photo: Tensor, alpha: Tensor, work_size: int, reduced: tuple[Tensor, Tensor] | None
) -> Tensor:
    """:func:`cutout.imaging.foreground.refine_foreground` on the device: H x W x 3 uint8."""
    height, width = alpha.shape
    result = photo.clone()
    flat = torch.nonzero(
        ((alpha > colour_facts.SOFT_LOW) & (alpha < colour_facts.SOFT_HIGH)).reshape(-1)
    ).squeeze(1)
    if flat.numel() == 0:
        return result
    factor = max(1.0, max(height, width) / work_size)
    if reduced is not None:
        small_image, small_alpha = reduced
    elif factor > 1.0:
        size = (max(1, round(height / factor)), max(1, round(width / factor)))
        small_image = _area(photo.permute(2, 0, 1).float(), *size).round() * (1.0 / 255.0)
        small_alpha = _area(alpha[None], *size)[0]
    else:
        small_image = photo.permute(2, 0, 1).float() * (1.0 / 255.0)
        small_alpha = alpha
    fb_small = _estimate_foreground_ml(small_image, small_alpha)

    # full-resolution finish at the soft pixels, neighbours' F and B from the small answer
    soft_alpha = alpha.reshape(-1)[flat][:, None]
    rows, cols = flat // width, flat % width
    total = _neighbour_total(alpha, flat, rows, cols)[:, None]
    prior = _bilinear_at(fb_small, rows, cols, height, width)
    colour = photo.reshape(-1, 3)[flat].float() * (1.0 / 255.0)
    a00 = soft_alpha * soft_alpha + total
    a11 = (1 - soft_alpha) * (1 - soft_alpha) + total
    a01 = soft_alpha * (1 - soft_alpha)
    rhs_f = soft_alpha * colour + total * prior[:, :3]
    rhs_b = (1 - soft_alpha) * colour + total * prior[:, 3:]
    foreground = (a11 * rhs_f - a01 * rhs_b) / (a00 * a11 - a01 * a01)
    levels = (foreground * 255.0 + 0.5).clamp(0.0, 255.0)
    result.reshape(-1, 3)[flat] = levels.to(torch.uint8)
    return result


def _neighbour_total(alpha: Tensor, flat: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """Sum of the 4 neighbour weights at the pixels ``flat`` (edge-clamped)."""
    height, width = alpha.shape
    values = alpha.reshape(-1)
    centre = values[flat]
    total = torch.full_like(centre, 4 * colour_facts.REGULARIZATION)
    for neighbour in (
        flat - (cols > 0).long(),
        flat + (cols < width - 1).long(),
        flat - width * (rows > 0).long(),
        flat + width * (rows < height - 1).long(),
    ):
        total += colour_facts.GRADIENT_WEIGHT * (centre - values[neighbour]).abs()
    return total


def _estimate_foreground_ml(image: Tensor, alpha: Tensor) -> Tensor:
    """:func:`cutout.imaging.foreground.estimate_foreground_ml` of a 3 x h x w image:
    6 x h x w (F, B), coarse to fine."""
    height, width = alpha.shape
    levels = max(1, math.ceil(math.log2(max(height, width))))
    fb = torch.zeros((6, 1, 1), device=image.device)
    for level in range(levels + 1):
        level_height = round(height ** (level / levels))
        level_width = round(width ** (level / levels))
        level_image = _nearest_index(image, level_height, level_width)
        level_alpha = _nearest_index(alpha[None], level_height, level_width)[0]
        fb = _nearest_index(fb, level_height, level_width)
        small = level_height <= colour_facts.SMALL_SIZE and level_width <= colour_facts.SMALL_SIZE
        iterations = colour_facts.SMALL_ITERATIONS if small else colour_facts.BIG_ITERATIONS
        fb = _solve_level(level_image, level_alpha, fb, iterations)
    return fb


def _nearest_index(array: Tensor, height: int, width: int) -> Tensor:
    """Nearest-neighbour resize with the reference's index rule (``x * w_src // w_dst``)."""
    rows = torch.arange(height, device=array.device) * array.shape[1] // height
    cols = torch.arange(width, device=array.device) * array.shape[2] // width
    return array.index_select(1, rows).index_select(2, cols)


def _neighbours(array: Tensor) -> list[Tensor]:
    """The left, right, upper and lower neighbours of C x h x w, edge-clamped."""
    padded = functional.pad(array[None], (1, 1, 1, 1), mode="replicate")[0]
    return [
        padded[:, 1:-1, :-2],
        padded[:, 1:-1, 2:],
        padded[:, :-2, 1:-1],
        padded[:, 2:, 1:-1],
    ]


def _solve_level(image: Tensor, alpha: Tensor, fb: Tensor, iterations: int) -> Tensor:
    """Jacobi sweeps of the per-pixel 2 x 2 system on one level; ``fb`` is 6 x h x w."""
    weights = [
        colour_facts.REGULARIZATION + colour_facts.GRADIENT_WEIGHT * (alpha - neighbour[0]).abs()
        for neighbour in _neighbours(alpha[None])
    ]
    total = weights[0] + weights[1] + weights[2] + weights[3]
    a00 = alpha * alpha + total
    a11 = (1 - alpha) * (1 - alpha) + total
    a01 = alpha * (1 - alpha)
    inverse_det = 1.0 / (a00 * a11 - a01 * a01)
    b00, b01, b11 = a11 * inverse_det, -a01 * inverse_det, a00 * inverse_det
    data = torch.cat([alpha * image, (1 - alpha) * image])
    for _ in range(iterations):
        pulled = data.clone()
        for weight, neighbour in zip(weights, _neighbours(fb), strict=True):
            pulled += weight * neighbour
        rhs_f, rhs_b = pulled[:3], pulled[3:]
        fb = torch.cat([b00 * rhs_f + b01 * rhs_b, b01 * rhs_f + b11 * rhs_b]).clamp(0.0, 1.0)
    return fb
