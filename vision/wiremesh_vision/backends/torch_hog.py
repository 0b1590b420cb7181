# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dalal-Triggs HOG people detection written as PyTorch tensor operations, so one pass over a batch of frames
runs on the CPU or on a GPU.

It computes what OpenCV's HOGDescriptor computes, with OpenCV's default people detector (torch_hog_svm), over
whole images instead of window by window:

1. per pyramid level (scale steps like detectMultiScale): bilinear resize rounded to 8 bits, square-root
   gamma, reflect-101 padding, centred [-1, 0, 1] derivatives, per pixel the colour channel whose gradient
   is strongest;
2. each gradient magnitude split between the two nearest of 9 unsigned orientation bins (centres 10, 30, ...
   170 degrees);
3. block histograms: every 16x16 block (stride 8) sums its pixels' votes into its 2x2 cells, weighted by a
   Gaussian over the block (sigma 4) and bilinearly between cell centres. That weight is separable, so the
   histograms of all blocks are two strided grouped convolutions;
4. L2-Hys normalisation of each block (L2, clip at 0.2, L2 again);
5. the linear SVM as one convolution over the block grid: the decision value of every 64x128 window at a
   stride of 8 px.

Windows whose decision value reaches the hit threshold are candidates; non-maximum suppression keeps the best
of overlapping ones, and a kept window needs `min_support` candidates similar to it (OpenCV's groupRectangles
criterion, eps 0.2) to count, as detectMultiScale needs more than finalThreshold=2 windows in a group."""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F

from . import torch_hog_svm

try:  # the fused NMS kernel, when a torchvision built for this torch is installed
    from torchvision.ops import batched_nms as torchvision_batched_nms
except (ImportError, RuntimeError):  # RuntimeError: a torchvision built for another torch
    torchvision_batched_nms = None

WINDOW = (64, 128)  # width, height
CELL, BLOCK, STRIDE, BINS = 8, 16, 8, 9
BLOCKS = ((WINDOW[0] - BLOCK) // STRIDE + 1, (WINDOW[1] - BLOCK) // STRIDE + 1)  # 7 across, 15 down
BLOCK_SIGMA = 0.25 * BLOCK  # OpenCV's default winSigma: (block width + block height) / 8
FEATURES = 4 * BINS  # one block: 2x2 cells of 9 bins
GROUP_EPS = 0.2  # groupRectangles' similarity tolerance, as detectMultiScale uses it


def level_scales(width: int, height: int, step: float, max_levels: int = 64) -> List[float]:
    """The pyramid scales detectMultiScale uses: 1, step, step^2 ... while the shrunk image holds a window."""
    scales, scale = [], 1.0
    for _level in range(max_levels):
        if round(width / scale) < WINDOW[0] or round(height / scale) < WINDOW[1]:
            break
        scales.append(scale)
        if step <= 1.0:
            break
        scale *= step
    return scales


def _block_kernels() -> torch.Tensor:
    """[2, 16]: the weight of a pixel at offset 0..15 across a block for its first and second cell (the
    Gaussian over the block times the bilinear weight between cell centres); the 2-D weight is a product."""
    offset = torch.arange(BLOCK, dtype=torch.float64)
    gauss = torch.exp(-((offset - BLOCK / 2) ** 2) / (2 * BLOCK_SIGMA ** 2))
    position = (offset + 0.5) / CELL - 0.5  # in cells, 0 = the first cell's centre
    return torch.stack([gauss * (1 - (position - cell).abs()).clamp(min=0) for cell in (0, 1)])


def _opencv_order() -> torch.Tensor:
    """The block feature channels in OpenCV's order (cell_x, cell_y, bin) from ours (bin, cell_x, cell_y)."""
    return torch.tensor([(b * 2 + cx) * 2 + cy for cx in (0, 1) for cy in (0, 1) for b in range(BINS)])


def similar(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """[len(a), len(b)] booleans: OpenCV's SimilarRects(eps 0.2) between x, y, w, h boxes."""
    a, b = a[:, None, :], b[None, :, :]
    delta = GROUP_EPS * 0.5 * (torch.minimum(a[..., 2], b[..., 2]) + torch.minimum(a[..., 3], b[..., 3]))
    ends_a, ends_b = a[..., :2] + a[..., 2:], b[..., :2] + b[..., 2:]
    return (((a[..., :2] - b[..., :2]).abs() <= delta[..., None]).all(-1)
            & ((ends_a - ends_b).abs() <= delta[..., None]).all(-1))


def _iou(boxes: torch.Tensor) -> torch.Tensor:
    """Pairwise intersection over union of x1, y1, x2, y2 boxes."""
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    low = torch.maximum(boxes[:, None, :2], boxes[None, :, :2])
    high = torch.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = (high - low).clamp(min=0).prod(-1)
    return inter / (area[:, None] + area[None, :] - inter).clamp(min=1e-9)


def _greedy_nms(corners: torch.Tensor, iou: float) -> torch.Tensor:
    """Keep-flags of greedy NMS over boxes sorted best first: box i is kept unless a kept, better box overlaps
    it by more than `iou`. Solved as a fixed point over the suppression matrix, which settles in at most
    len(corners) rounds (the first k flags are final after k), usually a handful."""
    over = torch.triu(_iou(corners) > iou, diagonal=1)  # over[j, i]: the better box j would suppress box i
    keep = torch.ones(len(corners), dtype=torch.bool, device=corners.device)
    for _round in range(len(corners)):
        settled = ~(over & keep[:, None]).any(0)
        if torch.equal(settled, keep):
            break
        keep = settled
    return keep


def batched_nms(corners: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, iou: float) -> torch.Tensor:
    """Greedy non-maximum suppression within each group (frame) of x1, y1, x2, y2 boxes: the indices kept.
    torchvision's kernel when it is installed, else _greedy_nms one group at a time."""
    if torchvision_batched_nms is not None:
        return torchvision_batched_nms(corners.float(), scores.float(), groups, iou)
    kept = []
    for group in torch.unique(groups).tolist():
        members = (groups == group).nonzero().squeeze(1)
        members = members[torch.argsort(scores[members], descending=True, stable=True)]
        kept.append(members[_greedy_nms(corners[members], iou)])
    return torch.cat(kept) if kept else groups.new_zeros(0)


class TorchHog(torch.nn.Module):
    """HOG + linear SVM people detector over batches of same-sized BGR (or grey) uint8 frames.

    scale: pyramid step (1.05 like the OpenCV backend; larger is faster and misses more), padding: pixels of
    reflected border around each level (windows may start that far outside the image), hit_threshold: the
    SVM decision value a window needs, nms_iou: overlap above which the weaker window is suppressed,
    min_support: candidate windows similar to a kept one that make it a detection (itself included),
    max_windows: most candidates per frame considered (the best ones), bounding the work on a busy frame."""

    def __init__(self, scale: float = 1.05, padding: int = 8, hit_threshold: float = 0.0, nms_iou: float = 0.3,
                 min_support: int = 3, max_windows: int = 2000):
        super().__init__()
        if not 1.0 < scale <= 2.0:
            raise ValueError("scale must be above 1 and at most 2, got %r" % (scale,))
        if not 0 <= padding <= WINDOW[0] // 2 or padding % STRIDE:
            raise ValueError("padding must be a multiple of %d from 0 to %d, got %r" % (STRIDE, WINDOW[0] // 2, padding))
        self.scale, self.padding, self.hit_threshold = float(scale), int(padding), float(hit_threshold)
        self.nms_iou, self.min_support, self.max_windows = float(nms_iou), int(min_support), int(max_windows)
        kernels = _block_kernels()
        self.register_buffer("across", kernels.repeat(BINS, 1).view(2 * BINS, 1, 1, BLOCK).float())
        self.register_buffer("down", kernels.repeat(2 * BINS, 1).view(FEATURES, 1, BLOCK, 1).float())
        self.register_buffer("order", _opencv_order())
        svm = torch.tensor(torch_hog_svm.COEFFICIENTS, dtype=torch.float32)
        svm = svm.view(BLOCKS[0], BLOCKS[1], FEATURES).permute(2, 1, 0)  # (feature, block_y, block_x)
        self.register_buffer("svm", svm.unsqueeze(0).contiguous())
        self.register_buffer("bias", torch.tensor([torch_hog_svm.BIAS], dtype=torch.float32))
        self._layouts: Dict[Tuple[int, int, str], list] = {}

    # -- features -------------------------------------------------------------------------------------------

    def blocks(self, images: torch.Tensor, padding: Optional[int] = None) -> torch.Tensor:
        """L2-Hys normalised block histograms [B, 36, blocks down, blocks across], channels in OpenCV's order,
        of float images [B, C, H, W] holding 0..255 (BGR or grey), padded by `padding` reflected pixels."""
        pad = self.padding if padding is None else padding
        lit = F.pad(images.float().sqrt(), (pad + 1,) * 4, mode="reflect")
        dx = lit[:, :, 1:-1, 2:] - lit[:, :, 1:-1, :-2]
        dy = lit[:, :, 2:, 1:-1] - lit[:, :, :-2, 1:-1]
        strength = dx * dx + dy * dy  # compared squared, as OpenCV does: square roots would round ties together
        best_dx, best_dy, best = dx[:, :1], dy[:, :1], strength[:, :1]
        for channel in range(1, images.shape[1]):  # the strongest channel; on a tie the first, as OpenCV does
            stronger = strength[:, channel:channel + 1] > best
            best_dx = torch.where(stronger, dx[:, channel:channel + 1], best_dx)
            best_dy = torch.where(stronger, dy[:, channel:channel + 1], best_dy)
            best = torch.maximum(best, strength[:, channel:channel + 1])
        dx, dy, magnitude = best_dx, best_dy, best.sqrt()
        position = torch.atan2(dy, dx) * (BINS / math.pi) - 0.5  # in bins; the angle mod 180 degrees
        low = position.floor()
        upper_share = magnitude * (position - low)
        low = low.long().remainder(BINS)
        votes = torch.zeros(dx.shape[0], BINS, *dx.shape[2:], dtype=dx.dtype, device=dx.device)
        votes.scatter_(1, low, magnitude - upper_share)
        votes.scatter_add_(1, (low + 1).remainder(BINS), upper_share)
        cells = F.conv2d(votes, self.across, stride=(1, STRIDE), groups=BINS)
        hist = F.conv2d(cells, self.down, stride=(STRIDE, 1), groups=2 * BINS).index_select(1, self.order)
        hist = hist / (hist.square().sum(1, keepdim=True).sqrt() + 0.1 * FEATURES)
        hist = hist.clamp(max=0.2)
        return hist / (hist.square().sum(1, keepdim=True).sqrt() + 1e-3)

    def window_scores(self, images: torch.Tensor) -> torch.Tensor:
        """The SVM decision value of every window [B, windows down, windows across] (window (i, j) starts at
        x = 8j - padding, y = 8i - padding)."""
        return F.conv2d(self.blocks(images), self.svm, self.bias)[:, 0]

    def descriptors(self, images: torch.Tensor) -> torch.Tensor:
        """OpenCV's HOGDescriptor.compute(image, winStride=(8, 8), padding=(0, 0)) as [B, windows, 3780]:
        windows row by row, each descriptor block column by block column."""
        hist = self.blocks(images, padding=0)
        windows = hist.unfold(2, BLOCKS[1], 1).unfold(3, BLOCKS[0], 1)  # B, 36, wy, wx, 15 (by), 7 (bx)
        return windows.permute(0, 2, 3, 5, 4, 1).reshape(hist.shape[0], -1, BLOCKS[0] * BLOCKS[1] * FEATURES)

    # -- detection ------------------------------------------------------------------------------------------

    def _layout(self, height: int, width: int, device: torch.device) -> list:
        """[(scale, level size, window boxes [n, 4] as x, y, w, h in frame pixels)] per pyramid level, cached."""
        key = (height, width, str(device))
        if key not in self._layouts:
            levels = []
            for scale in level_scales(width, height, self.scale):
                size = (round(height / scale), round(width / scale))
                down = (size[0] + 2 * self.padding - WINDOW[1]) // STRIDE + 1
                across = (size[1] + 2 * self.padding - WINDOW[0]) // STRIDE + 1
                ys, xs = torch.meshgrid(torch.arange(down) * STRIDE - self.padding,
                                        torch.arange(across) * STRIDE - self.padding, indexing="ij")
                # like detectMultiScale: the corner scaled and rounded, the window size scaled and rounded
                boxes = torch.stack([(xs * scale).round(), (ys * scale).round(),
                                     torch.full_like(xs, round(WINDOW[0] * scale)),
                                     torch.full_like(ys, round(WINDOW[1] * scale))], -1).reshape(-1, 4)
                levels.append((scale, size, boxes.float().to(device)))
            self._layouts[key] = levels
        return self._layouts[key]

    @torch.inference_mode()
    def forward(self, frames: torch.Tensor) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        """frames: uint8 [B, H, W, C] (C 3 = BGR, or 1) on this module's device. Per frame (boxes [n, 4] as
        int64 x, y, w, h clipped to the frame, SVM decision values [n] float32), on the CPU, best first."""
        if frames.dim() != 4 or frames.dtype != torch.uint8:
            raise ValueError("frames must be a uint8 tensor [batch, height, width, channels]")
        height, width = frames.shape[1:3]
        images = frames.permute(0, 3, 1, 2).float()  # channels last in memory: what resizing reads fastest
        scores, boxes = [], []
        for _scale, size, level_boxes in self._layout(height, width, frames.device):
            level = images
            if size != (height, width):
                level = F.interpolate(images, size=size, mode="bilinear", align_corners=False).round_()
            scores.append(self.window_scores(level.contiguous()).flatten(1))
            boxes.append(level_boxes)
        if not scores:  # smaller than one window
            return [(torch.zeros(0, 4, dtype=torch.int64), torch.zeros(0)) for _frame in range(frames.shape[0])]
        return self._select(torch.cat(scores, 1), torch.cat(boxes), frames.shape[0], width, height)

    def _select(self, scores, boxes, count, width, height):
        best, index = scores.topk(min(self.max_windows, scores.shape[1]), dim=1)
        frame, rank = (best >= self.hit_threshold).nonzero(as_tuple=True)
        margins, candidates = best[frame, rank], boxes[index[frame, rank]]
        corners = torch.cat([candidates[:, :2], candidates[:, :2] + candidates[:, 2:]], 1)
        kept = batched_nms(corners, margins, frame, self.nms_iou)
        support = (similar(candidates[kept], candidates) & (frame[kept][:, None] == frame[None, :])).sum(1)
        kept = kept[support >= self.min_support]
        low = corners[kept, :2].clamp(min=0)
        high = torch.minimum(corners[kept, 2:], corners.new_tensor([width, height]))
        found = torch.cat([low, high - low], 1).round().long().cpu()
        margins, frame = margins[kept].float().cpu(), frame[kept].cpu()
        return [(found[frame == number], margins[frame == number]) for number in range(count)]
