"""The fraud runs' pictures: the confusion matrix against the labels, and the tree."""

from __future__ import annotations

from lakeside.automl.plots import pyplot

PICTURE_DEPTH = 4  # deeper trees are drawn to this depth; the text artifact holds the whole tree


def confusion_matrix(confusion: dict[str, int], title: str):
    """A 2x2 matrix, labels (rows) against the tree (columns), with the counts written in."""
    plt = pyplot()
    cells = [[confusion["true_negatives"], confusion["added"]], [confusion["missed"], confusion["true_positives"]]]
    figure, axes = plt.subplots(figsize=(4.5, 4))
    axes.imshow(cells, cmap="Blues")
    for i in range(2):
        for j in range(2):
            axes.text(j, i, f"{cells[i][j]:,}", ha="center", va="center", color="black")
    axes.set_xticks([0, 1], ["tree: 0", "tree: 1 (adds)"])
    axes.set_yticks([0, 1], ["label: 0", "label: 1"])
    axes.set_title(f"{title}: test split against the labels")
    figure.tight_layout()
    plt.close(figure)
    return figure


def tree_picture(tree, title: str, max_depth: int = PICTURE_DEPTH):
    """The tree's top ``max_depth`` levels as boxes: the split, or the leaf's class and counts."""
    plt = pyplot()
    positions: dict[int, tuple[float, int]] = {}
    leaves_seen = [0]

    def place(node: int, depth: int) -> float:
        children = [int(tree.left[node]), int(tree.right[node])] if tree.feature[node] >= 0 else []
        if not children or depth == max_depth:
            x = float(leaves_seen[0])
            leaves_seen[0] += 1
        else:
            x = sum(place(c, depth + 1) for c in children) / 2
        positions[node] = (x, depth)
        return x

    place(0, 0)
    width = max(leaves_seen[0], 1)
    figure, axes = plt.subplots(figsize=(min(2.2 * width, 40), 1.6 * (max_depth + 1)))
    for node, (x, depth) in positions.items():
        if tree.feature[node] >= 0 and depth < max_depth:
            text = tree.condition(node, True)
            for child in (int(tree.left[node]), int(tree.right[node])):
                cx, cd = positions[child]
                axes.plot([x, cx], [-depth, -cd], color="grey", linewidth=0.8)
        elif tree.feature[node] >= 0:
            text = f"... subtree ({int(tree.counts[node].sum())} rows)"
        else:
            text = f"predict {int(tree.prediction[node])}\n{[int(c) for c in tree.counts[node]]}"
        axes.text(x, -depth, text, ha="center", va="center", fontsize=7,
                  bbox={"boxstyle": "round", "facecolor": "#eef3fb" if tree.feature[node] >= 0 else "#fdf1e6"})
    axes.set_axis_off()
    axes.set_title(f"{title}: decision tree (left = condition holds; top {max_depth} levels)")
    figure.tight_layout()
    plt.close(figure)
    return figure
