"""Tests for clkit.augment against torchvision's functional ops applied image by image."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torchvision.transforms.v2.functional as TF
from torchvision.transforms import InterpolationMode, RandomResizedCrop

from clkit import augment
from clkit.augment import Params, SimCLRAugment, crop_only, simclr, to_float, two_views, weak
from clkit.augment import byol, multi_crop, views

BILINEAR = InterpolationMode.BILINEAR
JITTER_REFERENCE = {
    "brightness": TF.adjust_brightness,
    "contrast": TF.adjust_contrast,
    "saturation": TF.adjust_saturation,
    "hue": TF.adjust_hue,
}


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def random_images(
    n: int = 6, channels: int = 3, height: int = 24, width: int = 28, seed: int = 0
) -> torch.Tensor:
    """Float images in [0, 1] with some gray pixels, saturated pixels and channel ties mixed in."""
    g = generator(seed)
    images = torch.rand(n, channels, height, width, generator=g)
    images[:, :, :3] = images[:, :1, :3]  # gray rows (chroma 0)
    images[:, :, 3, :5] = torch.tensor([0.0, 1.0])[torch.randint(0, 2, (channels, 5), generator=g)]
    if channels == 3:
        images[:, 1, 4] = images[:, 0, 4]  # red = green: a tie for the largest channel
    return images


def identity_params(n: int, height: int, width: int, /, **changes: torch.Tensor) -> Params:
    """Params that keep the whole image and change nothing, with some fields replaced."""
    fields = {
        "top": torch.zeros(n, dtype=torch.long),
        "left": torch.zeros(n, dtype=torch.long),
        "height": torch.full((n,), height),
        "width": torch.full((n,), width),
        "flip": torch.zeros(n, dtype=torch.bool),
        "jitter": torch.zeros(n, dtype=torch.bool),
        "brightness": torch.ones(n),
        "contrast": torch.ones(n),
        "saturation": torch.ones(n),
        "hue": torch.zeros(n),
        "order": torch.arange(4).repeat(n, 1),
        "grayscale": torch.zeros(n, dtype=torch.bool),
        "blur": torch.zeros(n, dtype=torch.bool),
        "sigma": torch.ones(n),
    }
    fields.update(changes)
    return Params(**fields)


def reference_view(image: torch.Tensor, params: Params, i: int, size: int, kernel_size: int) -> torch.Tensor:
    """Image i of a batch augmented with torchvision's functional ops: (C, H, W) -> (C, size, size)."""
    box = [int(params.top[i]), int(params.left[i]), int(params.height[i]), int(params.width[i])]
    view = TF.resized_crop(image, *box, [size, size], interpolation=BILINEAR, antialias=False)
    if params.flip[i]:
        view = TF.hflip(view)
    if params.jitter[i]:
        for op in params.order[i].tolist():
            name = augment.JITTER_OPS[op]
            view = JITTER_REFERENCE[name](view, float(getattr(params, name)[i]))
    if params.grayscale[i]:
        view = TF.rgb_to_grayscale(view, num_output_channels=view.shape[0])
    if params.blur[i]:
        sigma = float(params.sigma[i])
        view = TF.gaussian_blur(view, [kernel_size, kernel_size], [sigma, sigma])
    return view


def reference_batch(images: torch.Tensor, params: Params, size: int, kernel_size: int = 3) -> torch.Tensor:
    return torch.stack([reference_view(images[i], params, i, size, kernel_size) for i in range(len(images))])


# --------------------------------------------------------------------------- input


def test_to_float_scales_uint8_and_passes_floats_through():
    images = torch.tensor([[[[0, 51, 255]]]], dtype=torch.uint8)
    assert torch.equal(to_float(images), torch.tensor([[[[0.0, 0.2, 1.0]]]]))
    assert to_float(images).dtype == torch.float32
    floats = torch.rand(2, 3, 4, 4, dtype=torch.float64)
    assert to_float(floats) is floats


def test_to_float_refuses_other_integer_types():
    with pytest.raises(TypeError, match="uint8"):
        to_float(torch.zeros(1, 3, 4, 4, dtype=torch.int64))


# --------------------------------------------------------------------------- crop, resize, flip

CROPS = [  # (top, left, height, width, flip): image is 24 x 28, output 16 x 16
    (0, 0, 24, 28, False),  # the whole image, downsampled
    (0, 0, 24, 28, True),
    (0, 0, 16, 16, False),  # top-left corner, same size
    (8, 12, 16, 16, True),  # bottom-right corner
    (23, 27, 1, 1, False),  # one pixel in the corner
    (10, 0, 2, 3, True),  # tiny crop at the left border, upsampled
    (0, 20, 5, 8, False),  # tiny crop at the top-right border
    (3, 4, 20, 9, True),  # tall and thin: rows downsampled, columns upsampled
    (5, 6, 11, 13, False),  # odd sizes inside
]


@pytest.mark.parametrize("size", [16, 24])
def test_crop_resize_flip_matches_torchvision_resized_crop_and_hflip(size):
    images = random_images(n=len(CROPS))
    top, left, height, width, flip = (torch.tensor(column) for column in zip(*CROPS))
    params = identity_params(len(CROPS), 24, 28, top=top, left=left, height=height, width=width, flip=flip)
    result = SimCLRAugment(size).apply(images, params)
    torch.testing.assert_close(result, reference_batch(images, params, size), atol=1e-5, rtol=0)


def test_full_size_crop_is_the_identity_and_flip_mirrors():
    images = random_images(n=2, height=16, width=16)
    params = identity_params(2, 16, 16, flip=torch.tensor([False, True]))
    result = SimCLRAugment(16).apply(images, params)
    torch.testing.assert_close(result[0], images[0], atol=1e-6, rtol=0)
    torch.testing.assert_close(result[1], images[1].flip(-1), atol=1e-6, rtol=0)


def test_upsampled_crops_also_match_antialiased_resize():
    """Antialiasing only changes downsampling; enlarged crops match antialias=True too."""
    images = random_images(n=4)
    boxes = torch.tensor([[0, 0, 5, 7], [3, 4, 16, 16], [19, 20, 5, 8], [1, 2, 12, 3]])
    params = identity_params(4, 24, 28, **dict(zip(["top", "left", "height", "width"], boxes.T)))
    result = SimCLRAugment(16).apply(images, params)
    for i, box in enumerate(boxes.tolist()):
        expected = TF.resized_crop(images[i], *box, [16, 16], interpolation=BILINEAR, antialias=True)
        torch.testing.assert_close(result[i], expected, atol=1e-5, rtol=0)


# --------------------------------------------------------------------------- sampling crop boxes


def torchvision_boxes(draws: int, height: int, width: int, scale, ratio, seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    image = torch.empty(3, height, width)
    return torch.tensor([RandomResizedCrop.get_params(image, list(scale), list(ratio)) for _ in range(draws)])


def test_sampled_boxes_lie_inside_the_image_with_area_and_ratio_in_range():
    height, width = 600, 500  # large, so rounding to whole pixels barely moves area and ratio
    params = simclr(32).sample(4000, height, width, generator())
    top, left, h, w = params.top, params.left, params.height, params.width
    assert bool(((top >= 0) & (left >= 0) & (h >= 1) & (w >= 1)).all())
    assert bool(((top + h <= height) & (left + w <= width)).all())
    area, aspect = (h * w).double() / (height * width), w.double() / h
    assert area.min() >= 0.08 - 0.005 and area.max() <= 1.0
    assert aspect.min() >= 3 / 4 * 0.99 and aspect.max() <= 4 / 3 * 1.01
    # positions are uniform over the free space
    free_top = (top.double() / (height - h + 1)).mean()
    free_left = (left.double() / (width - w + 1)).mean()
    assert abs(free_top - 0.5) < 0.03 and abs(free_left - 0.5) < 0.03


@pytest.mark.parametrize("height, width", [(32, 32), (24, 40)])
def test_sampled_box_distribution_matches_torchvision_get_params(height, width):
    draws, scale, ratio = 4000, (0.08, 1.0), (3 / 4, 4 / 3)
    ours = simclr(32).sample(draws, height, width, generator(1))
    ours = torch.stack([ours.top, ours.left, ours.height, ours.width], dim=1).double()
    theirs = torchvision_boxes(draws, height, width, scale, ratio).double()

    def summary(boxes):
        area = boxes[:, 2] * boxes[:, 3] / (height * width)
        log_aspect = torch.log(boxes[:, 3] / boxes[:, 2])
        return torch.cat(
            [area.quantile(torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)), log_aspect.mean()[None]]
        )

    torch.testing.assert_close(summary(ours), summary(theirs), atol=0.03, rtol=0)


def test_fallback_to_the_centre_crop_matches_torchvision():
    """Aspect ratios of 2..3 never fit a large share of a square: most draws fall back."""
    draws, scale, ratio = 2000, (0.7, 1.0), (2.0, 3.0)
    aug = crop_only(16, scale=scale, ratio=ratio)
    ours = aug.sample(draws, 30, 30, generator(2))
    theirs = torchvision_boxes(draws, 30, 30, scale, ratio)
    centre = torch.tensor([7, 0, 15, 30])  # width 30, height round(30 / 2), centred
    ours_fallback = (torch.stack([ours.top, ours.left, ours.height, ours.width], 1) == centre).all(1).double()
    theirs_fallback = (theirs == centre).all(1).double()
    assert ours_fallback.mean() > 0.5
    assert abs(ours_fallback.mean() - theirs_fallback.mean()) < 0.05


# --------------------------------------------------------------------------- colour ops

FACTORS = {  # per image; includes the ends of the usual ranges
    "brightness": [0.0, 0.2, 0.7, 1.0, 1.5, 1.8],
    "contrast": [0.0, 0.2, 0.7, 1.0, 1.5, 1.8],
    "saturation": [0.0, 0.2, 0.7, 1.0, 1.5, 1.8],
    "hue": [-0.5, -0.2, -0.05, 0.0, 0.13, 0.5],
}


@pytest.mark.parametrize("name", list(FACTORS))
@pytest.mark.parametrize("channels", [3, 1])
def test_each_jitter_op_matches_torchvision_per_image(name, channels):
    images = random_images(n=6, channels=channels)
    factors = torch.tensor(FACTORS[name])
    result = getattr(augment, f"adjust_{name}")(images, factors)
    expected = torch.stack([JITTER_REFERENCE[name](images[i], float(factors[i])) for i in range(6)])
    atol = 1e-4 if name == "hue" else 1e-5
    torch.testing.assert_close(result, expected, atol=atol, rtol=0)


def test_colour_jitter_applies_the_ops_in_each_images_order():
    n = 8
    images = random_images(n=n, height=16, width=16)
    g = generator(3)
    params = identity_params(
        n, 16, 16,
        jitter=torch.tensor([True] * 7 + [False]),
        brightness=torch.empty(n).uniform_(0.2, 1.8, generator=g),
        contrast=torch.empty(n).uniform_(0.2, 1.8, generator=g),
        saturation=torch.empty(n).uniform_(0.2, 1.8, generator=g),
        hue=torch.empty(n).uniform_(-0.2, 0.2, generator=g),
        order=torch.rand(n, 4, generator=g).argsort(dim=1),
    )  # fmt: skip
    assert len({tuple(row) for row in params.order.tolist()}) > 1  # several different orders
    result = SimCLRAugment(16).apply(images, params)
    torch.testing.assert_close(result, reference_batch(images, params, 16), atol=1e-4, rtol=0)
    torch.testing.assert_close(result[-1], images[-1], atol=1e-6, rtol=0)  # not jittered


def test_grayscale_matches_torchvision():
    images = random_images(n=4, height=24, width=24)
    params = identity_params(4, 24, 24, grayscale=torch.tensor([True, False, True, True]))
    result = SimCLRAugment(24).apply(images, params)
    expected = TF.rgb_to_grayscale(images, num_output_channels=3)
    torch.testing.assert_close(result[[0, 2, 3]], expected[[0, 2, 3]], atol=1e-6, rtol=0)
    torch.testing.assert_close(result[1], images[1], atol=1e-6, rtol=0)


@pytest.mark.parametrize("kernel_size", [3, 7, 31])
def test_blur_matches_torchvision_gaussian_blur(kernel_size):
    images = random_images(n=5, height=16, width=16)
    sigma = torch.tensor([0.1, 0.5, 1.0, 2.0, 5.0])
    result = augment.gaussian_blur(images, sigma, kernel_size)
    expected = torch.stack(
        [
            TF.gaussian_blur(images[i], [kernel_size, kernel_size], [float(s), float(s)])
            for i, s in enumerate(sigma)
        ]
    )
    torch.testing.assert_close(result, expected, atol=1e-5, rtol=0)


def test_blur_flag_and_sigma_are_per_image():
    images = random_images(n=3, height=16, width=16)
    aug = simclr(16, blur_kernel=5)
    params = identity_params(
        3, 16, 16, blur=torch.tensor([True, False, True]), sigma=torch.tensor([0.3, 1.0, 1.7])
    )
    torch.testing.assert_close(
        aug.apply(images, params), reference_batch(images, params, 16, 5), atol=1e-5, rtol=0
    )


# --------------------------------------------------------------------------- the whole recipe


@pytest.mark.parametrize("channels", [3, 1])
def test_apply_matches_torchvision_composition_with_the_same_params(channels):
    images = random_images(n=32, channels=channels, height=40, width=36, seed=4)
    aug = simclr(24)
    params = aug.sample(32, 40, 36, generator(5))
    for flag in (params.flip, params.jitter, params.grayscale, params.blur):
        assert 0 < int(flag.sum()) < 32  # every op is exercised on some images and skipped on others
    result = aug.apply(images, params)
    expected = reference_batch(images, params, 24, aug.kernel_size)
    torch.testing.assert_close(result, expected, atol=1e-4, rtol=0)


def test_identical_images_get_independent_views():
    image = random_images(n=1, height=32, width=32)
    batch = image.expand(16, -1, -1, -1)
    aug = simclr(32)
    params = aug.sample(16, 32, 32, generator(6))
    boxes = torch.stack([params.top, params.left, params.height, params.width], dim=1)
    assert len({tuple(box) for box in boxes.tolist()}) > 12
    for flag in (params.flip, params.jitter, params.grayscale, params.blur):
        assert 0 < int(flag.sum()) < 16
    assert len(set(params.brightness.tolist())) == 16 and len(set(params.sigma.tolist())) == 16
    views = aug.apply(batch, params).flatten(1)
    distances = torch.cdist(views, views)
    assert bool((distances + torch.eye(16) > 1e-3).all())  # no two views alike


def test_sampled_probabilities_and_ranges():
    n = 20000
    aug = simclr(32, flip_p=0.3, jitter_p=0.6, grayscale_p=0.1, blur_p=0.9, jitter_strength=0.5)
    params = aug.sample(n, 32, 32, generator(7))
    for flag, p in [(params.flip, 0.3), (params.jitter, 0.6), (params.grayscale, 0.1), (params.blur, 0.9)]:
        assert abs(flag.double().mean() - p) < 0.015
    for name, (low, high) in {
        "brightness": (0.6, 1.4), "contrast": (0.6, 1.4), "saturation": (0.6, 1.4), "hue": (-0.1, 0.1),
    }.items():  # fmt: skip
        values = getattr(params, name)
        assert low <= values.min() < low + 0.01 and high - 0.01 < values.max() <= high
    assert low <= params.sigma.min() and params.sigma.max() <= 2.0
    assert torch.equal(params.order.sort(dim=1).values, torch.arange(4).expand(n, 4))
    assert len({tuple(row) for row in params.order.tolist()}) == 24  # all permutations occur


def test_switching_an_op_off_keeps_the_other_draws():
    params_on = simclr(32).sample(64, 32, 32, generator(8))
    params_off = simclr(32, blur_p=0.0).sample(64, 32, 32, generator(8))
    assert not params_off.blur.any()
    assert torch.equal(params_on.top, params_off.top) and torch.equal(params_on.hue, params_off.hue)


def test_crop_only_and_weak_change_no_colours():
    images = random_images(n=8, height=32, width=32)
    for aug in (crop_only(32), weak(32)):
        params = aug.sample(8, 32, 32, generator(9))
        assert not (params.jitter.any() or params.grayscale.any() or params.blur.any())
        result = aug.apply(images, params)
        torch.testing.assert_close(result, reference_batch(images, params, 32), atol=1e-5, rtol=0)
    areas = weak(32).sample(1000, 32, 32, generator(10))
    assert (areas.height * areas.width).min() >= 0.5 * 32 * 32 * 0.9


def test_each_op_switches_on_one_op_at_a_time():
    recipes = augment.each_op(32)
    assert list(recipes) == ["crop", "flip", "colour jitter", "grayscale", "blur", "all (SimCLR)"]
    flags = {}
    for name, aug in recipes.items():
        params = aug.sample(200, 32, 32, generator(18))
        cropped = (params.height * params.width < 32 * 32).any()
        flags[name] = {
            "crop": bool(cropped),
            "flip": bool(params.flip.any()),
            "colour jitter": bool(params.jitter.any()),
            "grayscale": bool(params.grayscale.any()),
            "blur": bool(params.blur.any()),
        }
    for name in ["crop", "flip", "colour jitter", "grayscale", "blur"]:
        assert flags[name] == {op: op == name for op in flags[name]}
    assert all(flags["all (SimCLR)"].values())


def test_same_seed_same_views_and_uint8_equals_float():
    images = (random_images(n=8, height=32, width=32) * 255).round().to(torch.uint8)
    aug = simclr(32)
    first = aug(images, generator(11))
    assert torch.equal(first, aug(images, generator(11)))
    assert torch.equal(first, aug(images.float() / 255, generator(11)))
    assert not torch.equal(first, aug(images, generator(12)))


def test_global_seed_is_used_without_a_generator():
    images = random_images(n=4, height=32, width=32)
    torch.manual_seed(13)
    first = simclr(32)(images)
    torch.manual_seed(13)
    assert torch.equal(first, simclr(32)(images))


def test_output_dtype_range_shape_and_device():
    images = torch.randint(0, 256, (5, 3, 40, 30), dtype=torch.uint8)
    out = simclr(20)(images, generator(14))
    assert out.shape == (5, 3, 20, 20) and out.dtype == torch.float32 and out.device == images.device
    assert out.min() >= 0 and out.max() <= 1
    gray = simclr(20)(images[:, :1], generator(14))
    assert gray.shape == (5, 1, 20, 20)


def test_input_is_not_modified():
    images = random_images(n=4, height=16, width=16)
    copy = images.clone()
    simclr(16, jitter_p=1.0, grayscale_p=1.0, blur_p=1.0)(images, generator(15))
    assert torch.equal(images, copy)


def test_two_views_are_independent_and_reproducible():
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    view1, view2 = two_views(images, simclr(32), generator(16))
    assert view1.shape == view2.shape == (6, 3, 32, 32)
    assert bool(((view1 - view2).flatten(1).abs().amax(dim=1) > 1e-3).all())
    again1, again2 = two_views(images, simclr(32), generator(16))
    assert torch.equal(view1, again1) and torch.equal(view2, again2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cpu_and_gpu_give_the_same_views():
    images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    aug = simclr(32)
    on_cpu = aug(images, generator(17))
    on_gpu = aug(images.cuda(), generator(17))
    assert on_gpu.device.type == "cuda" and on_gpu.dtype == torch.float32
    torch.testing.assert_close(on_gpu.cpu(), on_cpu, atol=1e-4, rtol=0)


def test_to_device_on_the_cpu_is_a_plain_move():
    values = torch.arange(5)
    assert augment.ops.to_device(values, torch.device("cpu")) is values
    assert torch.equal(augment.ops.to_device(values, "cpu"), values)


ALL_RECIPES = [simclr(32), *byol(32), *multi_crop(32, 16, n_local=2, solarize_p=0.5), weak(32), crop_only(32)]


def apply_dense(aug: SimCLRAugment, images: torch.Tensor, params: Params) -> torch.Tensor:
    return augment.dense.apply_packed(images, augment.dense.pack(params), aug.size, aug.kernel_size,
                                      aug.solarize_threshold, aug.blur_p > 0, aug.solarize_p > 0)


@pytest.mark.parametrize("index", range(len(ALL_RECIPES)))
def test_the_fixed_shape_path_equals_the_subset_path(index):
    # Each op on every image, kept by torch.where, against each op on its gathered subset (the CPU's path).
    aug = ALL_RECIPES[index]
    images = torch.randint(0, 256, (48, 3, 32, 32), dtype=torch.uint8)
    params = aug.sample(48, 32, 32, generator(index))
    if 0 < aug.jitter_p < 1:
        assert bool(params.jitter.any()) and bool((~params.jitter).any())  # both kinds of image are in the batch
    # equal but for the last bit of a reduction (a mean or a blur) summed over another batch's layout
    torch.testing.assert_close(apply_dense(aug, images, params), aug.apply(images, params), atol=1e-6, rtol=0)


def test_the_fixed_shape_path_keeps_a_grayscale_image_one_channel():
    aug = byol(32)[1]
    images = torch.randint(0, 256, (24, 1, 32, 32), dtype=torch.uint8)
    params = aug.sample(24, 32, 32, generator(5))
    out = apply_dense(aug, images, params)
    assert out.shape == (24, 1, 32, 32)
    torch.testing.assert_close(out, aug.apply(images, params), atol=1e-6, rtol=0)  # a reduction's last bit


def test_the_fixed_shape_path_reads_channels_last_images_as_it_reads_contiguous_ones():
    aug = byol(32)[1]  # every op
    images = torch.randint(0, 256, (24, 3, 32, 32), dtype=torch.uint8)
    params = aug.sample(24, 32, 32, generator(6))
    held = images.contiguous(memory_format=torch.channels_last)  # as fit holds its images on a GPU
    assert held.is_contiguous(memory_format=torch.channels_last) and torch.equal(held, images)
    torch.testing.assert_close(apply_dense(aug, held, params), apply_dense(aug, images, params), atol=1e-6, rtol=0)


def test_pack_holds_every_parameter_exactly():
    params = simclr(32).sample(16, 32, 32, generator(3))
    packed = augment.dense.pack(params)
    assert packed.shape == (16, len(augment.dense.COLUMNS)) and packed.dtype == torch.float64
    column = dict(zip(augment.dense.COLUMNS, packed.unbind(1)))
    for field in ("top", "left", "height", "width", "flip", "jitter", "brightness", "hue", "grayscale", "sigma"):
        assert torch.equal(column[field], getattr(params, field).to(torch.float64)), field
    assert torch.equal(torch.stack([column[f"order{i}"] for i in range(4)], 1), params.order.to(torch.float64))


def test_the_fixed_shape_path_compiles_whole_and_gives_the_same_views():
    # fullgraph=True raises at any graph break; BYOL's second view has every op, blur and solarize included.
    aug = byol(32)[1]
    images = torch.randint(0, 256, (32, 3, 32, 32), dtype=torch.uint8)
    params = aug.sample(32, 32, 32, generator(4))
    whole = torch.compile(augment.dense._apply, fullgraph=True, dynamic=False)
    out = whole(images, augment.dense.pack(params), aug.size, aug.kernel_size, aug.solarize_threshold, True, True)
    torch.testing.assert_close(out, aug.apply(images, params), atol=1e-5, rtol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_compiled_gpu_views_equal_the_cpu_views_and_never_make_the_host_wait():
    images = torch.randint(0, 256, (256, 3, 32, 32), dtype=torch.uint8)
    recipes = byol(32)  # two compiled graphs: without blur and solarize, with both
    on_cpu = views(images, recipes, generator(21))
    # held as fit holds them; copied before the debug mode: a copy from pageable memory waits, by design
    resident = images.cuda().contiguous(memory_format=torch.channels_last)
    with augment.dense.compiled():
        views(resident, recipes, generator(21))  # compiles each shape once
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            on_gpu = views(resident, recipes, generator(21))
        finally:
            torch.cuda.set_sync_debug_mode("default")
    for gpu, cpu in zip(on_gpu, on_cpu):
        torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-4, rtol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_views_on_a_gpu_never_make_the_host_wait():
    images = torch.randint(0, 256, (256, 3, 32, 32), dtype=torch.uint8, device="cuda")
    recipes = [simclr(32), simclr(32)] + byol(32) + multi_crop(32, 16, n_local=2, solarize_p=0.5)
    views(images, recipes, generator(18))  # warm-up: the pinned-memory pool and the kernels
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # any synchronising CUDA call now raises
    try:
        out = views(images, recipes, generator(19))
        masks = augment.block_masks(256, device="cuda", generator=generator(20))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    torch.cuda.synchronize()
    assert all(v.device.type == "cuda" for v in out) and masks.device.type == "cuda"


# --------------------------------------------------------------------------- presets, repr, errors


@pytest.mark.parametrize("size, kernel", [(8, 3), (32, 3), (64, 7), (96, 9), (224, 23)])
def test_default_blur_kernel_is_odd_and_about_a_tenth_of_the_size(size, kernel):
    assert simclr(size).kernel_size == kernel


def test_simclr_jitter_strength_and_overrides():
    aug = simclr(32, jitter_strength=0.5, hue=0.05)
    assert (aug.brightness, aug.contrast, aug.saturation, aug.hue) == (0.4, 0.4, 0.4, 0.05)
    assert dataclasses.replace(aug, blur_p=0.0).blur_p == 0.0


def test_repr_lists_the_ops():
    text = repr(simclr(32))
    assert text.splitlines()[0] == "SimCLRAugment(size=32)"
    for words in ["scale=(0.08, 1.0)", "flip", "p=0.5", "brightness=0.8", "hue=0.2", "grayscale", "kernel=3"]:
        assert words in text
    assert repr(crop_only(32)).count("off") == 3


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"size": 0}, r"size must be an integer >= 1, got 0"),
        ({"scale": (0.5, 0.2)}, r"scale must be a pair \(lo, hi\) with 0 < lo <= hi <= 1, got \(0.5, 0.2\)"),
        ({"scale": (0.0, 1.0)}, r"scale .* 0 < lo"),
        ({"scale": (0.5, 1.5)}, r"scale .* hi <= 1"),
        ({"ratio": (-1.0, 2.0)}, r"ratio .* 0 < lo <= hi"),
        ({"ratio": 0.5}, r"ratio must be a pair"),
        ({"flip_p": 1.5}, r"flip_p must be a number in \[0, 1\], got 1.5"),
        ({"jitter_p": -0.1}, r"jitter_p must be a number in \[0, 1\]"),
        ({"grayscale_p": 2}, r"grayscale_p"),
        ({"blur_p": "half"}, r"blur_p .* got 'half'"),
        ({"brightness": -0.1}, r"brightness must be a number in \[0, inf\), got -0.1"),
        ({"saturation": -1.0}, r"saturation"),
        ({"hue": 0.6}, r"hue must be a number in \[0, 0.5\], got 0.6"),
        ({"jitter_strength": -1.0}, r"jitter_strength"),
        ({"blur_sigma": (0.0, 1.0)}, r"blur_sigma .* 0 < lo <= hi"),
        ({"blur_kernel": 4}, r"blur_kernel must be an odd integer in \[1, 63\] for size 32 .*, got 4"),
        ({"blur_kernel": 65}, r"blur_kernel must be an odd integer"),
    ],
)
def test_bad_arguments_are_refused_with_the_name_value_and_range(arguments, message):
    arguments = {"size": 32, **arguments}
    with pytest.raises(ValueError, match=message):
        simclr(**arguments)


def test_bad_images_and_params_are_refused():
    aug = simclr(16)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\) with C = 3 \(RGB\) or 1"):
        aug(torch.rand(2, 4, 16, 16))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        aug(torch.rand(3, 16, 16))
    params = aug.sample(2, 32, 32, generator())
    with pytest.raises(ValueError, match="params are for 2 images but the batch has 3"):
        aug.apply(torch.rand(3, 3, 32, 32), params)
    big = dataclasses.replace(params, top=torch.tensor([0, 20]), height=torch.tensor([32, 32]))
    with pytest.raises(ValueError, match="outside the 32 x 32 images"):
        aug.apply(torch.rand(2, 3, 32, 32), big)
    with pytest.raises(ValueError, match="n must be an integer >= 0"):
        aug.sample(-1, 32, 32)


@pytest.mark.parametrize("scale, shift, low, high", [(255, 0, "0", "255"), (2, 0, "0", "2"), (1, -0.5, "-0.5", "0.5")])
def test_float_images_outside_zero_to_one_are_refused_with_how_to_convert(scale, shift, low, high):
    images = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    images[0, 0, 0, :2] = torch.tensor([0, 255], dtype=torch.uint8)  # the full range, so the message is exact
    bad = images.float() / 255 * scale + shift
    aug = simclr(16)
    message = rf"float images must hold values in \[0, 1\], got values from {low} to {high}: pass uint8 .*/ 255"
    for make_views in (aug, lambda x: aug.apply(x, aug.sample(4, 16, 16)), lambda x: two_views(x, aug),
                       lambda x: views(x, byol(16))):
        with pytest.raises(ValueError, match=message):
            make_views(bad)
    assert aug(images.float() / 255, generator()).shape == (4, 3, 16, 16)  # what the message advises works


def test_nan_images_are_refused_too():
    images = torch.rand(2, 3, 16, 16)
    images[1, 2, 3, 4] = float("nan")
    with pytest.raises(ValueError, match=r"must hold values in \[0, 1\], got values from nan"):
        simclr(16)(images)


def test_views_check_float_images_once_and_uint8_images_never(monkeypatch):
    checks = []
    real_aminmax = torch.aminmax
    monkeypatch.setattr(torch, "aminmax", lambda x: checks.append(x.dtype) or real_aminmax(x))
    images = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    for recipes in (byol(16), multi_crop(16, 8, n_local=3)):
        assert len(views(images, recipes, generator())) == len(recipes)
    assert checks == []
    assert len(views(images.float() / 255, multi_crop(16, 8, n_local=3), generator())) == 5
    assert checks == [torch.float32]


# --------------------------------------------------------------------------- solarize


@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.75, 1.0])
@pytest.mark.parametrize("channels", [3, 1])
def test_solarize_matches_torchvision_including_pixels_at_the_threshold(threshold, channels):
    images = random_images(n=4, channels=channels, height=16, width=16, seed=19)
    images[:, :, 5, :6] = threshold  # exactly at the threshold: inverted
    images[:, :, 6, :3] = torch.nextafter(torch.tensor(threshold), torch.tensor(-1.0))  # just below: kept
    result = augment.solarize(images, threshold)
    assert torch.equal(result, TF.solarize(images, threshold))
    assert torch.equal(result[:, :, 5, :6], torch.full_like(images[:, :, 5, :6], 1.0 - threshold))


def test_solarize_is_applied_last_and_only_to_the_chosen_images():
    images = random_images(n=6, height=16, width=16, seed=20)
    aug = simclr(16, jitter_p=1.0, grayscale_p=0.5, blur_p=1.0, solarize_p=0.5, solarize_threshold=0.4)
    params = aug.sample(6, 16, 16, generator(21))
    chosen = torch.tensor([True, False, True, True, False, False])
    params = dataclasses.replace(params, solarize=chosen)
    nobody = torch.zeros(6, dtype=torch.bool)
    without = dataclasses.replace(aug, solarize_p=0.0)
    before = without.apply(images, dataclasses.replace(params, solarize=nobody))
    result = aug.apply(images, params)
    assert torch.equal(result[chosen], TF.solarize(before[chosen], 0.4))
    assert torch.equal(result[~chosen], before[~chosen])


def test_recipe_with_solarize_matches_torchvision_composition():
    images = random_images(n=24, height=32, width=32, seed=22)
    first, second = byol(24)
    params = second.sample(24, 32, 32, generator(23))
    params = dataclasses.replace(params, solarize=torch.arange(24) % 3 == 0, blur=torch.arange(24) % 2 == 0)
    expected = reference_batch(images, params, 24, second.kernel_size)
    expected[params.solarize] = TF.solarize(expected[params.solarize], 0.5)
    torch.testing.assert_close(second.apply(images, params), expected, atol=1e-4, rtol=0)


def test_sampled_solarize_probability_and_the_off_switch():
    n = 20000
    params = simclr(32, solarize_p=0.3).sample(n, 32, 32, generator(24))
    assert params.solarize.dtype == torch.bool and params.solarize.shape == (n,)
    assert abs(params.solarize.double().mean() - 0.3) < 0.015
    assert not simclr(32).sample(100, 32, 32, generator(24)).solarize.any()
    assert not identity_params(3, 8, 8).solarize.any()  # Params built without the field: nobody solarized


def test_solarize_is_drawn_after_every_other_parameter():
    params_off = simclr(32).sample(64, 32, 32, generator(25))
    params_on = simclr(32, solarize_p=0.5).sample(64, 32, 32, generator(25))
    for field in dataclasses.fields(Params):
        if field.name != "solarize":
            assert torch.equal(getattr(params_on, field.name), getattr(params_off, field.name)), field.name
    assert 0 < int(params_on.solarize.sum()) < 64


# Drawn by clkit.augment as it was before solarize existed: simclr(32).sample(5, 40, 36) with seed 2024,
# then torch.rand(2) from the same generator.
DRAWS_BEFORE_SOLARIZE = {
    "top": [20, 16, 9, 10, 1],
    "left": [7, 11, 7, 12, 6],
    "height": [20, 18, 23, 27, 24],
    "width": [23, 16, 26, 23, 25],
    "flip": [True, False, True, True, False],
    "jitter": [True, True, False, True, True],
    "brightness": [
        0.40978574752807617, 1.6889675855636597, 1.29679274559021,
        0.24362698197364807, 1.5074447393417358,
    ],
    "contrast": [
        0.7675719857215881, 0.6470057368278503, 0.9546627402305603,
        1.0251765251159668, 0.5968508720397949,
    ],
    "saturation": [
        1.1188567876815796, 0.669619083404541, 1.6951367855072021,
        0.6495318412780762, 1.1354745626449585,
    ],
    "hue": [
        0.15744569897651672, 0.1295469105243683, -0.17281392216682434,
        0.17344000935554504, -0.011033750139176846,
    ],
    "order": [[1, 0, 3, 2], [3, 2, 0, 1], [3, 2, 1, 0], [0, 2, 1, 3], [1, 3, 0, 2]],
    "grayscale": [False, False, False, True, False],
    "blur": [False, True, True, False, False],
    "sigma": [
        0.6391173005104065, 1.4122357368469238, 1.6561554670333862,
        0.654880940914154, 1.881453275680542,
    ],
}
NEXT_DRAWS_BEFORE_SOLARIZE = [0.7364630103111267, 0.0068356990814208984]


def test_existing_recipes_draw_exactly_what_they_drew_before_solarize():
    g = generator(2024)
    params = simclr(32).sample(5, 40, 36, g)
    for name, values in DRAWS_BEFORE_SOLARIZE.items():
        actual = getattr(params, name)
        assert torch.equal(actual, torch.tensor(values, dtype=actual.dtype)), name
    assert not params.solarize.any()
    # the generator is left where it was, so the next view (two_views' second) is unchanged too
    assert torch.equal(torch.rand(2, generator=g), torch.tensor(NEXT_DRAWS_BEFORE_SOLARIZE))


def test_repr_shows_solarize_only_when_on():
    assert "solarize" not in repr(simclr(32))
    assert "  solarize             p=0.2, threshold=0.5" in repr(byol(32)[1]).splitlines()


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"solarize_p": 1.5}, r"solarize_p must be a number in \[0, 1\], got 1.5"),
        ({"solarize_p": True}, r"solarize_p"),
        ({"solarize_threshold": -0.1}, r"solarize_threshold must be a number in \[0, 1\], got -0.1"),
        ({"solarize_threshold": 1.5}, r"solarize_threshold"),
    ],
)
def test_bad_solarize_arguments_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        simclr(32, **arguments)
    with pytest.raises(ValueError, match=message):
        SimCLRAugment(32, **arguments)


# --------------------------------------------------------------------------- views and recipe lists


def test_views_gives_one_view_per_recipe_with_its_own_size():
    images = torch.randint(0, 256, (5, 3, 40, 36), dtype=torch.uint8)
    recipes = [simclr(32), crop_only(16), weak(8), simclr(32, blur_p=0.0)]
    result = views(images, recipes, generator(26))
    assert isinstance(result, list) and len(result) == 4
    shapes = [tuple(view.shape) for view in result]
    assert shapes == [(5, 3, 32, 32), (5, 3, 16, 16), (5, 3, 8, 8), (5, 3, 32, 32)]
    assert all(view.dtype == torch.float32 for view in result)
    assert views(images, [], generator(26)) == []


def test_views_draws_the_recipes_in_order_from_one_generator():
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    recipes = [simclr(32), crop_only(16), byol(24)[1]]
    g = generator(27)
    expected = [aug(to_float(images), g) for aug in recipes]
    result = views(images, recipes, generator(27))
    assert all(torch.equal(a, b) for a, b in zip(result, expected))


def test_two_views_equals_views_with_the_recipe_twice():
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    aug = simclr(32)
    pair = two_views(images, aug, generator(28))
    assert isinstance(pair, tuple) and len(pair) == 2
    listed = views(images, [aug, aug], generator(28))
    assert torch.equal(pair[0], listed[0]) and torch.equal(pair[1], listed[1])
    g = generator(28)  # and what two_views always did: to_float once, then aug twice
    x = to_float(images)
    assert torch.equal(pair[0], aug(x, g)) and torch.equal(pair[1], aug(x, g))


def test_views_refuses_what_is_not_a_recipe():
    images = torch.rand(2, 3, 16, 16)
    with pytest.raises(TypeError, match=r"recipes\[1\] must be a SimCLRAugment or a callable, got str"):
        views(images, [simclr(16), "simclr"])


def test_byol_pair_differs_only_in_blur_and_solarize():
    first, second = byol(32)
    assert (first.blur_p, first.solarize_p) == (1.0, 0.0)
    assert (second.blur_p, second.solarize_p) == (0.1, 0.2)
    for aug in (first, second):
        assert (aug.size, aug.scale, aug.ratio, aug.flip_p) == (32, (0.08, 1.0), (3 / 4, 4 / 3), 0.5)
        assert (aug.brightness, aug.contrast, aug.saturation, aug.hue) == (0.4, 0.4, 0.2, 0.1)
        assert (aug.jitter_p, aug.grayscale_p, aug.blur_sigma) == (0.8, 0.2, (0.1, 2.0))
        assert aug.solarize_threshold == 0.5
    assert dataclasses.replace(second, blur_p=1.0, solarize_p=0.0) == first
    params = second.sample(20000, 32, 32, generator(29))
    assert abs(params.blur.double().mean() - 0.1) < 0.015
    assert abs(params.solarize.double().mean() - 0.2) < 0.015
    assert first.sample(100, 32, 32, generator(29)).blur.all()


def test_multi_crop_views_have_the_global_then_local_shapes():
    images = torch.randint(0, 256, (4, 3, 48, 40), dtype=torch.uint8)
    recipes = multi_crop(32, 16)
    assert len(recipes) == 8
    assert [aug.size for aug in recipes] == [32] * 2 + [16] * 6
    assert [aug.scale for aug in recipes] == [(0.14, 1.0)] * 2 + [(0.05, 0.14)] * 6
    result = views(images, recipes, generator(30))
    assert [tuple(view.shape) for view in result] == [(4, 3, 32, 32)] * 2 + [(4, 3, 16, 16)] * 6
    gray = views(images[:, :1], multi_crop(24, 8, n_global=1, n_local=3), generator(30))
    assert [tuple(view.shape) for view in gray] == [(4, 1, 24, 24)] + [(4, 1, 8, 8)] * 3


def test_multi_crop_colour_is_simclrs_unless_overridden():
    default = multi_crop(32, 16, n_local=1)
    assert default[0] == simclr(32, scale=(0.14, 1.0)) and default[-1] == simclr(16, scale=(0.05, 0.14))
    custom = multi_crop(32, 16, n_global=1, n_local=2, global_scale=(0.4, 1.0), local_scale=(0.05, 0.4),
                        jitter_strength=0.5, blur_p=0.0, solarize_p=0.1)  # fmt: skip
    assert [aug.scale for aug in custom] == [(0.4, 1.0), (0.05, 0.4), (0.05, 0.4)]
    assert all(aug.brightness == 0.4 and aug.blur_p == 0.0 and aug.solarize_p == 0.1 for aug in custom)
    with pytest.raises(ValueError, match="n_global must be an integer >= 1"):
        multi_crop(32, 16, n_global=0)
    with pytest.raises(ValueError, match="n_local must be an integer >= 0"):
        multi_crop(32, 16, n_local=-1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cpu_and_gpu_give_the_same_multi_view_recipes():
    images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    recipes = byol(32) + multi_crop(32, 16, n_local=2, solarize_p=0.5)
    on_cpu = views(images, recipes, generator(31))
    on_gpu = views(images.cuda(), recipes, generator(31))
    for cpu, gpu in zip(on_cpu, on_gpu):
        assert gpu.device.type == "cuda"
        torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-4, rtol=0)
