"""What the network learned: the features of its last hidden layer, mapped to 2-D, and its first filters.

The last layer only draws lines between the digits in the space of the features before it (the
penultimate layer). Mapping that space to two dimensions (PCA, then t-SNE; scikit-learn) shows
whether the ten digits form separate clusters, and where the mistakes sit: between clusters, or
deep inside the wrong one. The first convolution's kernels are the strokes and edges it looks for.
"""

from __future__ import annotations

import numpy as np

from ..train.evaluation import DIGITS, Evaluation
from .figures import DescribedFigure

MAP_IMAGES = 1000  # test images in the 2-D map, about 100 of each digit: clear clusters in a second of t-SNE
# t-SNE's neighbourhood size and its steps (250 of them with clusters pulled apart): ten digits form their
# clusters well within this, and scikit-learn's 1,000 default steps took 5-10 times as long on 2 cores.
PERPLEXITY = 20.0
ITERATIONS = 400


def _first_network(model):
    """The model itself, or an ensemble's first member (its members each see the image on their own)."""
    from ..models import ensemble_members

    members = ensemble_members(model)
    return members[0] if members else model


def penultimate_features(model, images: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """(N, features): what the last layer receives, for an ensemble from its first member.

    Runs the model's own (already trained) layers in inference mode, all but the last.
    """
    from ..train.evaluation import hidden_features

    return hidden_features(_first_network(model), images, batch_size)


def feature_map(features: np.ndarray, seed: int = 0) -> np.ndarray:
    """(N, 2): PCA to at most 50 dimensions, then t-SNE; the same seed gives the same map."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    reduced = PCA(n_components=min(50, *features.shape), random_state=seed).fit_transform(features)
    perplexity = min(PERPLEXITY, max(2.0, (len(features) - 1) / 3))
    return TSNE(n_components=2, perplexity=perplexity, max_iter=ITERATIONS, init="pca",
                random_state=seed).fit_transform(reduced)


def map_subset(labels: np.ndarray, count: int = MAP_IMAGES, seed: int = 0) -> np.ndarray:
    """Sorted indices of `count` test images (all of them when there are fewer), the same for the same seed."""
    if count >= len(labels):
        return np.arange(len(labels))
    return np.sort(np.random.default_rng(seed).choice(len(labels), size=count, replace=False))


def feature_map_figure(model, images: np.ndarray, evaluation: Evaluation, count: int = MAP_IMAGES,
                       seed: int = 0) -> DescribedFigure:
    """The penultimate layer's features of `count` test images in 2-D, coloured by true digit, with the
    mistakes among them circled."""
    from ..models import ensemble_members

    chosen = map_subset(evaluation.labels, count, seed)
    points = feature_map(penultimate_features(model, images[chosen]), seed)
    labels, wrong = evaluation.labels[chosen], evaluation.predictions[chosen] != evaluation.labels[chosen]
    whose = "the ensemble's first member's" if ensemble_members(model) else "the"
    figure = DescribedFigure(
        f"Map of {len(chosen):,} test images by the features of {whose} last hidden layer (PCA, then t-SNE), "
        f"coloured by true digit, each digit's label at the middle of its points; "
        f"{_mistakes(int(wrong.sum()))} among them circled.", figsize=(8, 6.5), layout="constrained")
    axes = figure.add_subplot()
    palette = [f"C{digit}" for digit in DIGITS]
    for digit in DIGITS:
        mine = labels == digit
        axes.scatter(points[mine, 0], points[mine, 1], s=5, color=palette[digit], alpha=0.7, linewidths=0)
        if mine.any():
            centre = np.median(points[mine], axis=0)
            axes.text(*centre, str(digit), fontsize=15, weight="bold", ha="center", va="center",
                      color=palette[digit], bbox={"boxstyle": "circle", "fc": "white", "ec": palette[digit]})
    axes.scatter(points[wrong, 0], points[wrong, 1], s=45, facecolors="none", edgecolors="black", linewidths=1,
                 label=f"mistakes ({int(wrong.sum())})")
    axes.set(xticks=[], yticks=[], title=f"{len(chosen):,} test images in {whose} last hidden layer "
                                         "(PCA, then t-SNE), coloured by true digit")
    axes.legend(loc="lower right", fontsize=8)
    return figure


def first_convolution(model):
    """The first Conv2D layer (for an ensemble, its first member's); ValueError if there is none."""
    import keras

    from ..models import leaf_layers

    for layer in leaf_layers(_first_network(model)):
        if isinstance(layer, keras.layers.Conv2D):
            return layer
    raise ValueError("the model has no convolution")


def _mistakes(count: int) -> str:
    return "no mistake" if count == 0 else f"{count:,} mistake{'' if count == 1 else 's'}"


def filters_figure(model, columns: int = 16) -> DescribedFigure:
    """The first convolution's kernels as small images (ink-like weights dark), one per filter."""
    import keras

    from ..models import ensemble_members

    kernel = keras.ops.convert_to_numpy(first_convolution(model).kernel)  # (height, width, 1, filters)
    kernels = np.moveaxis(kernel[:, :, 0, :], -1, 0)
    rows = -(-len(kernels) // columns)
    whose = "its first member's first" if ensemble_members(model) else "the first"
    largest = float(np.abs(kernels).max()) if kernels.size else 0.0
    figure = DescribedFigure(f"The {len(kernels)} {kernels.shape[1]}×{kernels.shape[2]} filters of {whose} "
                             "convolution as small images, positive weights red and negative blue, each on its own "
                             f"scale; weights reach ±{largest:.2f}.",
                             figsize=(0.7 * columns, 0.75 * rows + 0.5), layout="constrained")
    figure.suptitle(f"The {len(kernels)} {kernels.shape[1]}×{kernels.shape[2]} filters of {whose} convolution",
                    fontsize=10)
    for index, axes in enumerate(figure.subplots(rows, columns, squeeze=False).flat):
        axes.set_axis_off()
        if index < len(kernels):
            limit = max(float(np.abs(kernels[index]).max()), 1e-8)
            axes.imshow(kernels[index], cmap="RdBu_r", vmin=-limit, vmax=limit)
    return figure
